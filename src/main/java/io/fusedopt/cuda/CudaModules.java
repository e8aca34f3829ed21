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
 * NUL-terminated {@code .ptx}) into the current context, with every entry's function looked up once.
 */
final class CudaModules implements AutoCloseable {
    private static final String RESOURCES = "/io/fusedopt/cuda/";
    private final Map<String, CUmodule> modules = new LinkedHashMap<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final String format;

    /**
     * Loads every module.
     *
     * @throws CudaUnavailableException when a module is missing or the driver cannot load it (for example a driver
     *     too old for the PTX)
     */
    CudaModules() {
        String used = "fatbin";
        try {
            for (Kernel k : Kernel.all()) {
                if (!modules.containsKey(k.module())) {
                    String how = load(k.module());
                    if (how.equals("ptx")) {
                        used = "ptx";
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
        this.format = used;
    }

    private String load(String module) {
        CUmodule m = new CUmodule();
        byte[] fatbin = resource(module + ".fatbin", false);
        if (fatbin != null && cuModuleLoadData(m, fatbin) == CUresult.CUDA_SUCCESS) {
            modules.put(module, m);
            return "fatbin";
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

    /** {@code fatbin} when every module loaded from SASS, {@code ptx} when some needed the JIT. */
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
