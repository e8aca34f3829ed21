package io.fusedopt;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;

/**
 * Memory a test owns as a framework would, registered with a store as external tensors: Java arrays for a CPU
 * store, device allocations (made here with plain JCuda, each at a chosen byte offset from its allocation's start)
 * for a CUDA store. The test writes gradients into it and reads parameters from it directly, never through the
 * store, so a passing test shows the store worked in place.
 */
final class CallerTensors implements AutoCloseable {
    /** One caller-owned tensor: its arrays or its device addresses. */
    private record Owned(long length, float[] w, float[] g, long wAddress, long gAddress) {
    }

    private final boolean cuda;
    private final Map<String, Owned> tensors = new LinkedHashMap<>();
    private final List<CUdeviceptr> allocations = new ArrayList<>();

    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context;

    /** Memory for stores on {@code device}; on CUDA in device 0's primary context, the one fusedopt uses. */
    CallerTensors(Device device) {
        this.cuda = device.backend().name().equals("cuda");
        if (cuda) {
            context = new CUcontext();
            check(cuDeviceGet(cuDevice, 0), "get device 0");
            check(cuDevicePrimaryCtxRetain(context, cuDevice), "retain the primary context");
            check(cuCtxSetCurrent(context), "make the primary context current");
        } else {
            context = null;
        }
    }

    /** Whether the memory is device memory. */
    boolean cuda() {
        return cuda;
    }

    /**
     * Registers tensor {@code name} on {@code b} as external, with caller gradients when {@code gradients}; on CUDA
     * each range starts {@code offsetBytes} (a multiple of 4) after the start of an allocation of its own.
     */
    ParameterStore.Builder register(ParameterStore.Builder b, String name, long[] shape, boolean gradients,
            int offsetBytes) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (!cuda) {
            float[] w = new float[(int) n];
            float[] g = gradients ? new float[(int) n] : null;
            tensors.put(name, new Owned(n, w, g, 0, 0));
            return b.addExternal(name, w, g, shape);
        }
        long wa = allocate(n, offsetBytes);
        long ga = gradients ? allocate(n, offsetBytes) : 0;
        tensors.put(name, new Owned(n, null, null, wa, ga));
        return b.addExternalDevice(name, wa, ga, n, shape);
    }

    /** Whether {@code name} was registered here. */
    boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** Whether {@code name} was registered here with caller gradients. */
    boolean hasGradients(String name) {
        Owned o = tensors.get(name);
        return o != null && (o.g() != null || o.gAddress() != 0);
    }

    /** Writes the parameters of {@code name} straight into the caller's memory. */
    void writeParameters(String name, float[] v) {
        Owned o = tensors.get(name);
        if (cuda) {
            upload(o.wAddress(), v);
        } else {
            System.arraycopy(v, 0, o.w(), 0, v.length);
        }
    }

    /** Writes the gradients of {@code name} straight into the caller's memory. */
    void writeGradients(String name, float[] v) {
        Owned o = tensors.get(name);
        if (cuda) {
            upload(o.gAddress(), v);
        } else {
            System.arraycopy(v, 0, o.g(), 0, v.length);
        }
    }

    /** The parameters of {@code name} read straight from the caller's memory. */
    float[] parameters(String name) {
        Owned o = tensors.get(name);
        float[] out = new float[(int) o.length()];
        if (cuda) {
            check(cuMemcpyDtoH(Pointer.to(out), CudaPointers.pointer(o.wAddress()), out.length * 4L), "read");
        } else {
            System.arraycopy(o.w(), 0, out, 0, out.length);
        }
        return out;
    }

    /** The caller's parameter array of {@code name} (CPU only): the very array the store updates. */
    float[] parameterArray(String name) {
        return tensors.get(name).w();
    }

    /** The caller's gradient array of {@code name} (CPU only), or null. */
    float[] gradientArray(String name) {
        return tensors.get(name).g();
    }

    /** The caller's device address of the parameters of {@code name} (CUDA only). */
    long parameterAddress(String name) {
        return tensors.get(name).wAddress();
    }

    /** The caller's device address of the gradients of {@code name} (CUDA only), or 0. */
    long gradientAddress(String name) {
        return tensors.get(name).gAddress();
    }

    /** A device allocation of {@code n} floats plus 16 bytes; returns the address {@code offsetBytes} into it. */
    long allocate(long n, int offsetBytes) {
        check(cuCtxSetCurrent(context), "make the primary context current");
        CUdeviceptr p = new CUdeviceptr();
        check(cuMemAlloc(p, n * 4 + 16), "allocate");
        allocations.add(p);
        long a = CudaPointers.address(p) + offsetBytes;
        // Whatever the allocation held: NaN where nothing is written, so a read of unwritten memory shows.
        upload(a, filled(n, Float.NaN));
        return a;
    }

    private static float[] filled(long n, float v) {
        float[] a = new float[(int) n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static void upload(long address, float[] v) {
        check(cuMemcpyHtoD(CudaPointers.pointer(address), Pointer.to(v), v.length * 4L), "write");
    }

    private static void check(int r, String what) {
        if (r != CUresult.CUDA_SUCCESS) {
            throw new AssertionError(what + " failed: " + CUresult.stringFor(r));
        }
    }

    /** Frees the device allocations (call after the store is closed). */
    @Override
    public void close() {
        if (cuda) {
            cuCtxSetCurrent(context);
            for (CUdeviceptr p : allocations) {
                cuMemFree(p);
            }
            allocations.clear();
            cuDevicePrimaryCtxRelease(cuDevice);
        }
    }
}
