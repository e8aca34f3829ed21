package io.fusedopt.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * One arena buffer in device memory; element {@code i} of tensor {@code t} is at {@code (t.offset + i) * bytes},
 * {@code bytes} being its dtype's size. A 16-bit buffer is written from float32 rounded to nearest even on the host
 * and read back widened exactly, with the same conversions as the CPU backend.
 */
final class CudaBuffer implements ArenaBuffer {
    private final CudaBackend backend;
    private final long elements;
    private final String purpose;
    private final Dtype dtype;
    private final int size;
    private DevicePointer ptr;

    CudaBuffer(CudaBackend backend, ArenaLayout layout, String purpose) {
        this(backend, layout, purpose, Dtype.FLOAT32);
    }

    CudaBuffer(CudaBackend backend, ArenaLayout layout, String purpose, Dtype dtype) {
        this.backend = backend;
        this.elements = layout.totalElements();
        this.purpose = purpose;
        this.dtype = dtype;
        this.size = dtype.bytes();
        backend.makeCurrent();
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
        if (t.offset() + t.length() > elements) {
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
            Driver.check(cuMemcpyHtoD(pointer().withByteOffset((t.offset() + at) * size), Pointer.to(h),
                    (long) len * size), "copying " + len + " elements of '" + t.name() + "' to the " + purpose
                    + " buffer");
            return;
        }
        Driver.check(cuMemcpyHtoD(pointer().withByteOffset((t.offset() + at) * Float.BYTES),
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
            Driver.check(cuMemcpyDtoH(Pointer.to(h), pointer().withByteOffset((t.offset() + at) * size),
                    (long) len * size), "copying " + len + " elements of '" + t.name() + "' from the " + purpose
                    + " buffer");
            for (int i = 0; i < len; i++) {
                dst[from + i] = dtype.widen(h[i]);
            }
            return;
        }
        Driver.check(cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) from * Float.BYTES),
                pointer().withByteOffset((t.offset() + at) * Float.BYTES), (long) len * Float.BYTES),
                "copying " + len + " elements of '" + t.name() + "' from the " + purpose + " buffer");
    }

    @Override
    public void fill(Tensor t, float value) {
        backend.makeCurrent();
        if (dtype.isHalf()) {
            // Tensors start at multiples of 64 elements, so pairs of halves are 4-byte words: one 32-bit fill of
            // the doubled pattern, and the odd last element copied on its own.
            int h = dtype.narrow(value) & 0xFFFF;
            long pairs = t.length() / 2;
            if (pairs > 0) {
                Driver.check(cuMemsetD32(pointer().withByteOffset(t.offset() * size), (h << 16) | h, pairs),
                        "filling '" + t.name() + "' in the " + purpose + " buffer");
            }
            if (t.length() % 2 != 0) {
                Driver.check(cuMemcpyHtoD(pointer().withByteOffset((t.offset() + t.length() - 1) * size),
                        Pointer.to(new short[] {(short) h}), size), "filling '" + t.name() + "' in the " + purpose
                        + " buffer");
            }
            return;
        }
        Driver.check(cuMemsetD32(pointer().withByteOffset(t.offset() * Float.BYTES), Float.floatToRawIntBits(value),
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
        backend.makeCurrent();
        Driver.check(cuMemcpyDtoDAsync(pointer(), o.pointer(), elements * size, backend.stream()),
                "copying the " + o.purpose + " buffer into the " + purpose + " buffer");
    }

    @Override
    public long address(Tensor t) {
        if (t.offset() + t.length() > elements) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' lies outside the " + purpose + " buffer");
        }
        DevicePointer p = ptr;
        if (p == null) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
        return p.address() + t.offset() * size;
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
