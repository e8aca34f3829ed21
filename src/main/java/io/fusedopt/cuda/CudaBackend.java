package io.fusedopt.cuda;

import io.fusedopt.core.CudaUnavailableException;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend: device 0's primary context (shared with frameworks that use the runtime API), the kernel
 * modules, one stream for every step, and the arena buffers in device memory.
 *
 * <p>Every public operation makes the context current on the calling thread first, so stores and optimizers may
 * be used from any thread (one at a time per optimizer).
 */
public final class CudaBackend implements Backend {
    /** Why JCuda's native library failed to load in this process, once it has. */
    private static volatile String libraryFailure;

    private final CUdevice device;
    private final CUcontext context;
    private final boolean primary;
    private final CUstream stream;
    private final CudaModules modules;
    private final String description;
    private final boolean standIn;
    private final Set<AutoCloseable> live = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    private CudaBackend(CUdevice device, CUcontext context, boolean primary, CUstream stream, CudaModules modules,
            String description, boolean standIn) {
        this.device = device;
        this.context = context;
        this.primary = primary;
        this.stream = stream;
        this.modules = modules;
        this.description = description;
        this.standIn = standIn;
    }

    /**
     * Opens device 0.
     *
     * @throws CudaUnavailableException with a one-line reason: no driver library, no device, a driver too old for
     *     the kernels, or a module that does not load
     */
    public static CudaBackend open() {
        int r;
        String failed = libraryFailure;
        if (failed != null) {
            throw new CudaUnavailableException(failed);
        }
        try {
            // JCuda's own loader would load a file that anyone may have planted in java.io.tmpdir.
            JCudaNatives.loadDriver();
            JCudaDriver.setExceptionsEnabled(false);
            r = cuInit(0);
        } catch (LinkageError e) {
            // A class whose initialiser failed only says "Could not initialize class" on later attempts, so the
            // first reason is kept for the life of the process.
            String reason = libraryReason(e);
            libraryFailure = reason;
            throw new CudaUnavailableException(reason, e);
        }
        if (r == CUresult.CUDA_ERROR_NO_DEVICE) {
            throw new CudaUnavailableException("no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)");
        }
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaUnavailableException("the CUDA driver failed to initialise (cuInit: " + Driver.name(r) + ")");
        }
        int[] count = new int[1];
        r = cuDeviceGetCount(count);
        if (r != CUresult.CUDA_SUCCESS || count[0] == 0) {
            throw new CudaUnavailableException("no CUDA device" + (r == 0 ? "" : " (" + Driver.name(r) + ")"));
        }
        CUdevice dev = new CUdevice();
        Driver.check(cuDeviceGet(dev, 0), "getting device 0");
        CUcontext ctx = new CUcontext();
        boolean primary = cuDevicePrimaryCtxRetain(ctx, dev) == CUresult.CUDA_SUCCESS;
        if (!primary) {
            ctx = new CUcontext();
            r = cuCtxCreate(ctx, 0, dev);
            if (r != CUresult.CUDA_SUCCESS) {
                throw new CudaUnavailableException("cannot create a CUDA context on device 0 (" + Driver.name(r) + ")");
            }
        }
        CudaModules modules = null;
        CUstream stream = null;
        try {
            Driver.check(cuCtxSetCurrent(ctx), "making the context current");
            modules = new CudaModules();
            stream = new CUstream();
            Driver.check(cuStreamCreate(stream, 0), "creating the step stream");
            String name = deviceName(dev);
            long[] mem = new long[1];
            Driver.check(cuDeviceTotalMem(mem, dev), "reading the device memory size");
            int[] major = new int[1], minor = new int[1], version = new int[1];
            Driver.check(cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                    dev), "reading the compute capability");
            Driver.check(cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                    dev), "reading the compute capability");
            Driver.check(cuDriverGetVersion(version), "reading the driver version");
            String description = String.format("%s, %.1f GiB, compute capability %d.%d, CUDA driver %d.%d, kernels %s",
                    name, mem[0] / (double) (1L << 30), major[0], minor[0], version[0] / 1000, (version[0] % 1000) / 10,
                    modules.format());
            return new CudaBackend(dev, ctx, primary, stream, modules, description, name.contains("stand-in"));
        } catch (RuntimeException e) {
            if (stream != null) {
                cuStreamDestroy(stream);
            }
            if (modules != null) {
                modules.close();
            }
            if (primary) {
                cuDevicePrimaryCtxRelease(dev);
            } else {
                cuCtxDestroy(ctx);
            }
            if (e instanceof CudaUnavailableException) {
                throw e;
            }
            throw new CudaUnavailableException("CUDA device 0 cannot be set up: " + e.getMessage(), e);
        }
    }

    private static String libraryReason(LinkageError e) {
        String m = String.valueOf(e.getMessage());
        if (e instanceof NoClassDefFoundError && m.contains("Could not initialize class")) {
            return "JCuda's driver library failed to load earlier in this process";
        }
        if (m.contains("libcuda.so")) {
            return "no CUDA driver library (libcuda.so.1 not found)";
        }
        String first = m.lines().filter(l -> !l.isBlank()).findFirst().orElse(e.getClass().getSimpleName());
        return "JCuda's driver library cannot load: " + first.trim();
    }

    private static String deviceName(CUdevice dev) {
        byte[] name = new byte[256];
        Driver.check(cuDeviceGetName(name, name.length, dev), "reading the device name");
        int n = 0;
        while (n < name.length && name[n] != 0) {
            n++;
        }
        return new String(name, 0, n, StandardCharsets.UTF_8);
    }

    /** Makes the context current on this thread; every operation calls it first. */
    void makeCurrent() {
        if (closed) {
            throw new IllegalStateException("the CUDA device is closed");
        }
        Driver.check(cuCtxSetCurrent(context), "making the CUDA context current");
    }

    /** Runs a release call with the context current, ignoring failures; for close paths only. */
    void releaseQuietly(java.util.function.IntSupplier release) {
        if (closed) {
            return;
        }
        cuCtxSetCurrent(context);
        release.getAsInt();
    }

    CUstream stream() {
        return stream;
    }

    CudaModules modules() {
        return modules;
    }

    /** Whether this is the CPU stand-in for the driver (tests and figures from it are not a GPU's). */
    public boolean isStandIn() {
        return standIn;
    }

    void track(AutoCloseable c) {
        synchronized (live) {
            live.add(c);
        }
    }

    void untrack(AutoCloseable c) {
        synchronized (live) {
            live.remove(c);
        }
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose) {
        return new CudaBuffer(this, layout, purpose);
    }

    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose, io.fusedopt.core.Dtype dtype) {
        return new CudaBuffer(this, layout, purpose, dtype);
    }

    @Override
    public StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow) {
        return program(rule, layout, params, grads, slots, slow, io.fusedopt.backend.Precision.PLAIN);
    }

    @Override
    public StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow, io.fusedopt.backend.Precision precision) {
        return new CudaStepProgram(this, rule, layout, (CudaBuffer) params, (CudaBuffer) grads,
                slots.stream().map(CudaBuffer.class::cast).toList(), (CudaBuffer) slow, precision);
    }

    @Override
    public void synchronize() {
        makeCurrent();
        Driver.check(cuStreamSynchronize(stream), "synchronizing the step stream");
        Driver.check(cuCtxSynchronize(), "synchronizing the context");
    }

    @Override
    public double timeQueued(Runnable work) {
        makeCurrent();
        CUevent start = new CUevent(), stop = new CUevent();
        Driver.check(cuEventCreate(start, CUevent_flags.CU_EVENT_DEFAULT), "creating a timing event");
        try {
            Driver.check(cuEventCreate(stop, CUevent_flags.CU_EVENT_DEFAULT), "creating a timing event");
            try {
                Driver.check(cuEventRecord(start, stream), "recording the start event");
                work.run();
                makeCurrent();
                Driver.check(cuEventRecord(stop, stream), "recording the stop event");
                Driver.check(cuEventSynchronize(stop), "waiting for the stop event");
                float[] ms = new float[1];
                Driver.check(cuEventElapsedTime(ms, start, stop), "reading the time between the events");
                return ms[0];
            } finally {
                cuEventDestroy(stop);
            }
        } finally {
            cuEventDestroy(start);
        }
    }

    /** Frees every buffer still allocated on this device, the stream, the modules, and releases the context. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        cuCtxSetCurrent(context);
        List<AutoCloseable> left;
        synchronized (live) {
            left = List.copyOf(live);
        }
        for (AutoCloseable c : left) {
            try {
                c.close();
            } catch (Exception e) {
                // Closing continues: the context goes away with everything in it.
            }
        }
        cuStreamDestroy(stream);
        modules.close();
        closed = true;
        if (primary) {
            cuDevicePrimaryCtxRelease(device);
        } else {
            cuCtxDestroy(context);
        }
    }
}
