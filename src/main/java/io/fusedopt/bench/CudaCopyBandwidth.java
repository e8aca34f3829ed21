package io.fusedopt.bench;

import io.fusedopt.Device;
import io.fusedopt.core.FusedOptException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The GPU's reference bandwidth: {@code cuMemcpyDtoD} of a large buffer, counted as 2 × its size (read and
 * write), on the context that the CUDA {@link Device} makes current. One timed run issues several copies and then
 * synchronizes, so launch and synchronisation latency do not dilute the figure.
 *
 * <p>This class calls the JCuda driver API directly and is loaded only when a CUDA device is open. It needs no
 * hook from the CUDA backend: synchronizing the device makes the backend's context current on this thread.
 */
public final class CudaCopyBandwidth implements BandwidthProbe {
    /** Largest buffer copied: 1 GiB, far beyond any L2. */
    static final long MAX_BYTES = 1L << 30;
    /** Buffer copied on the CPU stand-in, whose figures are meaningless anyway: keeps its runs short. */
    static final long STAND_IN_BYTES = 16L << 20;
    /** Copies per timed run. */
    static final int COPIES = 10;
    /** Untimed runs when opening. */
    static final int WARMUP = 2;

    private final Device device;
    private final long size;
    private CUdeviceptr src;
    private CUdeviceptr dst;

    private CudaCopyBandwidth(Device device, long size, CUdeviceptr src, CUdeviceptr dst) {
        this.device = device;
        this.size = size;
        this.src = src;
        this.dst = dst;
    }

    /**
     * Allocates two buffers of at most 1 GiB and at most a quarter of the free device memory each (16 MiB on the
     * CPU stand-in) on {@code device}'s context and copies a few times untimed. Open it after the arena, so that
     * the arena gets the memory first.
     *
     * @throws IllegalArgumentException when {@code device} is not a CUDA device
     * @throws FusedOptException when no context is current after synchronizing the device, less than 4 MiB is
     *     free, or a driver call fails
     */
    public static CudaCopyBandwidth open(Device device) {
        if (!"cuda".equals(device.name())) {
            throw new IllegalArgumentException("the copy bandwidth needs a CUDA device, got " + device.name());
        }
        device.synchronize();
        CUcontext current = new CUcontext();
        check(JCudaDriver.cuCtxGetCurrent(current), "cuCtxGetCurrent");
        if (current.equals(new CUcontext())) {
            throw new FusedOptException("no CUDA context is current after synchronizing the device;"
                    + " the copy bandwidth cannot be measured");
        }
        long[] free = new long[1], total = new long[1];
        check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        boolean standIn = device.description().contains("stand-in");
        long size = Math.min(standIn ? STAND_IN_BYTES : MAX_BYTES, free[0] / 4) & ~0xFFFFL;
        if (size < (4 << 20)) {
            throw new FusedOptException("only " + free[0] + " bytes of device memory are free; the copy bandwidth"
                    + " needs buffers of at least 4 MiB");
        }
        CUdeviceptr src = new CUdeviceptr(), dst = new CUdeviceptr();
        check(JCudaDriver.cuMemAlloc(src, size), "cuMemAlloc");
        int r = JCudaDriver.cuMemAlloc(dst, size);
        if (r != CUresult.CUDA_SUCCESS) {
            JCudaDriver.cuMemFree(src);
            check(r, "cuMemAlloc");
        }
        CudaCopyBandwidth probe = new CudaCopyBandwidth(device, size, src, dst);
        try {
            check(JCudaDriver.cuMemsetD32(src, Float.floatToIntBits(1f), size / 4), "cuMemsetD32");
            for (int i = 0; i < WARMUP; i++) {
                probe.timeOnce();
            }
        } catch (RuntimeException e) {
            probe.close();
            throw e;
        }
        return probe;
    }

    /**
     * Opens a probe on {@code device}, times {@code repetitions} runs in a row and frees it.
     *
     * @throws IllegalArgumentException when {@code device} is not a CUDA device or {@code repetitions < 1}
     * @throws FusedOptException as {@link #open}
     */
    public static Bandwidth measure(Device device, int repetitions) {
        try (CudaCopyBandwidth p = open(device)) {
            return p.measure(repetitions);
        }
    }

    @Override
    public double timeOnce() {
        if (src == null) {
            throw new IllegalStateException("the copy probe is closed");
        }
        // Makes the device's context current on this thread, whatever ran on it before.
        device.synchronize();
        long t0 = System.nanoTime();
        for (int c = 0; c < COPIES; c++) {
            check(JCudaDriver.cuMemcpyDtoD(dst, src, size), "cuMemcpyDtoD");
        }
        check(JCudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
        return (System.nanoTime() - t0) / 1e9 / COPIES;
    }

    @Override
    public double bytes() {
        return 2.0 * size;
    }

    @Override
    public String pattern() {
        return String.format("cuMemcpyDtoD of %d MiB, counted as 2 x size, %d copies per timing", size >> 20, COPIES);
    }

    /** Frees both buffers. Closing twice is harmless. */
    @Override
    public void close() {
        if (src != null) {
            device.synchronize();
            JCudaDriver.cuMemFree(dst);
            JCudaDriver.cuMemFree(src);
            src = null;
            dst = null;
        }
    }

    private static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new FusedOptException(call + " failed while measuring the copy bandwidth: "
                    + CUresult.stringFor(result));
        }
    }
}
