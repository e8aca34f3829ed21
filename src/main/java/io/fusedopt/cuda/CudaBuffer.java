package io.fusedopt.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetAddressRange;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.CallerMemory;
import io.fusedopt.core.LaunchConfig;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;

/**
 * One arena buffer in device memory; element {@code i} of tensor {@code t} is at {@code (t.offset + i) * bytes},
 * {@code bytes} being its dtype's size. A 16-bit buffer is written from float32 rounded to nearest even on the host
 * and read back widened exactly, with the same conversions as the CPU backend.
 *
 * <p>A tensor whose memory the caller registered (float32 only) is at the caller's address plus {@code i * 4}
 * instead. The allocation spans only the tensors the buffer holds itself: the store places caller-owned tensors
 * after its own ones, so registering a framework's tensors costs no device memory for their parameters or
 * gradients.
 */
final class CudaBuffer implements ArenaBuffer {
    private final CudaBackend backend;
    private final long elements;
    private final String purpose;
    private final Dtype dtype;
    private final int size;
    /** Per tensor index: the caller's device address of its first element, or 0 where the buffer holds it. */
    private final long[] callerAddress;
    private DevicePointer ptr;

    CudaBuffer(CudaBackend backend, ArenaLayout layout, String purpose) {
        this(backend, layout, purpose, Dtype.FLOAT32);
    }

    CudaBuffer(CudaBackend backend, ArenaLayout layout, String purpose, Dtype dtype) {
        this(backend, layout, purpose, dtype, CallerMemory.none(layout.tensors().size()));
    }

    /**
     * A buffer storing {@code dtype} whose tensors named by {@code memory} live at the caller's device addresses.
     *
     * @throws IllegalArgumentException when {@code memory} holds a Java array, an address for a buffer that is not
     *     float32, or an address that is not inside one device allocation of this context for the tensor's whole
     *     length, naming the tensor and the address
     */
    CudaBuffer(CudaBackend backend, ArenaLayout layout, String purpose, Dtype dtype, CallerMemory memory) {
        this.backend = backend;
        this.purpose = purpose;
        this.dtype = dtype;
        this.size = dtype.bytes();
        List<Tensor> tensors = layout.tensors();
        if (memory.size() != tensors.size()) {
            throw new IllegalArgumentException("caller memory for " + memory.size() + " tensors, the layout has "
                    + tensors.size());
        }
        backend.makeCurrent();
        this.callerAddress = new long[tensors.size()];
        long extent = 0;
        for (Tensor t : tensors) {
            int i = t.index();
            if (memory.array(i) != null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "': " + purpose + " registered as a Java"
                        + " array, but the store is on the CUDA backend, which reads device memory: register its"
                        + " device address instead");
            }
            if (memory.address(i) != 0) {
                if (dtype != Dtype.FLOAT32) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "': " + purpose + " registered at"
                            + " 0x" + Long.toHexString(memory.address(i)) + " for a " + dtype.label() + " buffer;"
                            + " external tensors are float32");
                }
                checkReachable(t, memory.address(i), purpose);
                callerAddress[i] = memory.address(i);
            } else {
                extent = Math.max(extent, t.offset() + t.length());
            }
        }
        // Without caller memory the buffer spans the whole arena, as every state slot does; with it, at least one
        // aligned block, so that the kernels always receive a valid base pointer.
        this.elements = memory.anyAddress() ? Math.max(extent, LaunchConfig.ALIGN) : layout.totalElements();
        DevicePointer p = new DevicePointer();
        Driver.check(cuMemAlloc(p, elements * size), "allocating the " + purpose + " buffer ("
                + elements * size + " bytes)");
        this.ptr = p;
        backend.track(this);
    }

    /** The buffer's base pointer. */
    CUdeviceptr pointer() {
        if (ptr == null) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
        return ptr;
    }

    @Override
    public Dtype dtype() {
        return dtype;
    }

    /**
     * Refuses an address that is not inside one device allocation of the current context for all of the tensor's
     * bytes: the driver reports the allocation that contains it.
     */
    private static void checkReachable(Tensor t, long address, String purpose) {
        long bytes = t.length() * Float.BYTES;
        CUdeviceptr base = new DevicePointer();
        long[] size = new long[1];
        int r = cuMemGetAddressRange(base, size, new CUdeviceptr().withByteOffset(address));
        String what = "tensor '" + t.name() + "': " + purpose + " at 0x" + Long.toHexString(address);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new IllegalArgumentException(what + " is not device memory of this device's context ("
                    + CUresult.stringFor(r) + " from cuMemGetAddressRange)");
        }
        long start = ((DevicePointer) base).address();
        if (address - start > size[0] - bytes) {
            throw new IllegalArgumentException(what + " needs " + bytes + " bytes (" + t.length() + " elements), but"
                    + " its allocation at 0x" + Long.toHexString(start) + " of " + size[0] + " bytes ends "
                    + (start + size[0] - address) + " bytes after it");
        }
    }

    /** The caller's device address of tensor {@code t}, or 0 when this buffer holds the tensor itself. */
    long callerAddress(int t) {
        return callerAddress[t];
    }

    /** Whether every element of tensor {@code t} lies in this buffer's allocation or in the caller's memory. */
    boolean covers(Tensor t) {
        return callerAddress[t.index()] != 0 || t.offset() + t.length() <= elements;
    }

    /** The device address of element 0 of tensor {@code t}. */
    private long base(Tensor t) {
        long own = ((DevicePointer) pointer()).address();
        long a = callerAddress[t.index()];
        return a != 0 ? a : own + t.offset() * size;
    }

    private static CUdeviceptr at(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    /** Elements the buffer spans. */
    long elements() {
        return elements;
    }

    private void check(Tensor t, long at, int len, int arrayLength, int from) {
        if (at < 0 || len < 0 || at > t.length() - len) {
            throw new IndexOutOfBoundsException("elements [" + at + ", " + at + " + " + len + ") outside tensor '"
                    + t.name() + "' of " + t.length() + " elements");
        }
        if (from < 0 || from > arrayLength - len) {
            throw new IndexOutOfBoundsException("array range [" + from + ", " + from + " + " + len
                    + ") outside an array of " + arrayLength);
        }
        if (!covers(t)) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' lies outside the " + purpose + " buffer");
        }
    }

    @Override
    public void write(Tensor t, long at, float[] src, int from, int len) {
        check(t, at, len, src.length, from);
        if (len == 0) {
            return;
        }
        backend.makeCurrent();
        if (dtype.isHalf()) {
            short[] h = new short[len];
            for (int i = 0; i < len; i++) {
                h[i] = dtype.narrow(src[from + i]);
            }
            Driver.check(cuMemcpyHtoD(at(base(t) + at * size), Pointer.to(h),
                    (long) len * size), "copying " + len + " elements of '" + t.name() + "' to the " + purpose
                    + " buffer");
            return;
        }
        Driver.check(cuMemcpyHtoD(at(base(t) + at * Float.BYTES),
                Pointer.to(src).withByteOffset((long) from * Float.BYTES), (long) len * Float.BYTES),
                "copying " + len + " elements of '" + t.name() + "' to the " + purpose + " buffer");
    }

    @Override
    public void read(Tensor t, long at, float[] dst, int from, int len) {
        check(t, at, len, dst.length, from);
        if (len == 0) {
            return;
        }
        backend.makeCurrent();
        if (dtype.isHalf()) {
            short[] h = new short[len];
            Driver.check(cuMemcpyDtoH(Pointer.to(h), at(base(t) + at * size),
                    (long) len * size), "copying " + len + " elements of '" + t.name() + "' from the " + purpose
                    + " buffer");
            for (int i = 0; i < len; i++) {
                dst[from + i] = dtype.widen(h[i]);
            }
            return;
        }
        Driver.check(cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) from * Float.BYTES),
                at(base(t) + at * Float.BYTES), (long) len * Float.BYTES),
                "copying " + len + " elements of '" + t.name() + "' from the " + purpose + " buffer");
    }

    @Override
    public void fill(Tensor t, float value) {
        if (!covers(t)) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' lies outside the " + purpose + " buffer");
        }
        backend.makeCurrent();
        if (dtype.isHalf()) {
            // Tensors start at multiples of 64 elements, so pairs of halves are 4-byte words: one 32-bit fill of
            // the doubled pattern, and the odd last element copied on its own.
            int h = dtype.narrow(value) & 0xFFFF;
            long pairs = t.length() / 2;
            if (pairs > 0) {
                Driver.check(cuMemsetD32(at(base(t)), (h << 16) | h, pairs),
                        "filling '" + t.name() + "' in the " + purpose + " buffer");
            }
            if (t.length() % 2 != 0) {
                Driver.check(cuMemcpyHtoD(at(base(t) + (t.length() - 1) * size),
                        Pointer.to(new short[] {(short) h}), size), "filling '" + t.name() + "' in the " + purpose
                        + " buffer");
            }
            return;
        }
        Driver.check(cuMemsetD32(at(base(t)), Float.floatToRawIntBits(value),
                t.length()), "filling '" + t.name() + "' in the " + purpose + " buffer");
    }

    @Override
    public void copyFrom(ArenaBuffer other) {
        if (!(other instanceof CudaBuffer o) || o.elements != elements) {
            throw new IllegalArgumentException("cannot copy into the " + purpose + " buffer from a buffer of another"
                    + " backend or layout");
        }
        if (o.dtype != dtype) {
            throw new IllegalArgumentException("cannot copy the " + o.purpose + " buffer (" + o.dtype.label()
                    + ") into the " + purpose + " buffer (" + dtype.label() + ")");
        }
        if (java.util.Arrays.stream(callerAddress).anyMatch(a -> a != 0)
                || java.util.Arrays.stream(o.callerAddress).anyMatch(a -> a != 0)) {
            throw new IllegalArgumentException("cannot copy the " + o.purpose + " buffer into the " + purpose
                    + " buffer as a whole: one of them holds tensors in the caller's memory");
        }
        backend.makeCurrent();
        Driver.check(cuMemcpyDtoDAsync(pointer(), o.pointer(), elements * size, backend.stream()),
                "copying the " + o.purpose + " buffer into the " + purpose + " buffer");
    }

    @Override
    public long address(Tensor t) {
        if (!covers(t)) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' lies outside the " + purpose + " buffer");
        }
        return base(t);
    }

    /**
     * Frees the device memory. Never throws: after a failed kernel the context may refuse every call, and the
     * memory then goes away with the context when the device is closed.
     */
    @Override
    public void close() {
        DevicePointer p = ptr;
        if (p != null) {
            ptr = null;
            backend.untrack(this);
            backend.releaseQuietly(() -> cuMemFree(p));
        }
    }
}
