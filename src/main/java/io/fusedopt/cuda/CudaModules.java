package io.fusedopt.cuda;

import io.fusedopt.core.CudaUnavailableException;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;

/**
 * The kernel modules, loaded from the classpath ({@code io/fusedopt/cuda/<module>.fatbin}, else the
 * NUL-terminated {@code .ptx}) into the current context, with every entry's function looked up once. Which image
 * each module came from is kept for {@code info} ({@link #format()}).
 */
final class CudaModules implements AutoCloseable {
    private static final String RESOURCES = "/io/fusedopt/cuda/";
    private final Map<String, CUmodule> modules = new LinkedHashMap<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final String format;
    private String fatbinRefusal;

    /**
     * Loads every module.
     *
     * @throws CudaUnavailableException when a module is missing or the driver cannot load it (for example a driver
     *     too old for the PTX)
     */
    CudaModules() {
        java.util.List<String> fromPtx = new java.util.ArrayList<>();
        try {
            for (Kernel k : Kernel.all()) {
                if (!modules.containsKey(k.module())) {
                    if (load(k.module()).equals("ptx")) {
                        fromPtx.add(k.module());
                    }
                }
                CUfunction f = new CUfunction();
                int r = cuModuleGetFunction(f, modules.get(k.module()), k.entry());
                if (r != CUresult.CUDA_SUCCESS) {
                    throw new CudaUnavailableException("kernel " + k.entry() + " is missing from module "
                            + k.module() + " (" + Driver.name(r) + ")");
                }
                functions.put(k.entry(), f);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        this.format = fromPtx.isEmpty() ? "from fatbin"
                : "from PTX for " + String.join(", ", fromPtx) + " (fatbin refused: " + fatbinRefusal + ")";
    }

    private String load(String module) {
        CUmodule m = new CUmodule();
        byte[] fatbin = resource(module + ".fatbin", false);
        int fr = fatbin == null ? CUresult.CUDA_ERROR_FILE_NOT_FOUND : cuModuleLoadData(m, fatbin);
        if (fr == CUresult.CUDA_SUCCESS) {
            modules.put(module, m);
            return "fatbin";
        }
        if (fatbinRefusal == null) {
            fatbinRefusal = fatbin == null ? module + ".fatbin missing" : Driver.name(fr);
        }
        byte[] ptx = resource(module + ".ptx", true);
        if (ptx == null) {
            throw new CudaUnavailableException("kernel module " + module + ".ptx is missing from this build");
        }
        m = new CUmodule();
        int r = cuModuleLoadData(m, ptx);
        if (r == CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION) {
            throw new CudaUnavailableException("the CUDA driver is too old for the kernels' PTX (built with CUDA 13:"
                    + " needs a driver of the CUDA 13 generation, 580 or newer)");
        }
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaUnavailableException("the driver cannot load kernel module " + module + " ("
                    + Driver.name(r) + ")");
        }
        modules.put(module, m);
        return "ptx";
    }

    /** A resource's bytes, NUL-terminated when {@code text}; null when absent. */
    private static byte[] resource(String name, boolean text) {
        try (InputStream in = CudaModules.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) {
                return null;
            }
            byte[] b = in.readAllBytes();
            return text ? Arrays.copyOf(b, b.length + 1) : b;
        } catch (IOException e) {
            throw new CudaUnavailableException("cannot read kernel resource " + name + ": " + e.getMessage(), e);
        }
    }

    /** The function of an entry. */
    CUfunction function(Kernel k) {
        CUfunction f = functions.get(k.entry());
        if (f == null) {
            throw new IllegalStateException("kernel modules are closed");
        }
        return f;
    }

    /**
     * Which images were loaded: {@code from fatbin} when every module loaded from its fatbin, else {@code from PTX
     * for <modules> (fatbin refused: <why>)} naming the modules the driver had to JIT-compile.
     */
    String format() {
        return format;
    }

    @Override
    public void close() {
        for (CUmodule m : modules.values()) {
            cuModuleUnload(m);
        }
        modules.clear();
        functions.clear();
    }
}
