package io.fusedopt;

import jcuda.driver.CUdeviceptr;

/**
 * Conversions between the 64-bit device addresses fusedopt speaks ({@link ParameterStore#parameterAddress},
 * {@link ParameterStore.Builder#addExternalDevice}) and JCuda's {@link CUdeviceptr}, for code that mixes fusedopt
 * with its own JCuda calls (a framework's kernels, cuBLAS, copies).
 *
 * <pre>{@code
 * CUdeviceptr w = new CUdeviceptr();
 * cuMemAlloc(w, 4L * n);                                            // the framework's own tensor
 * ParameterStore store = ParameterStore.builder()
 *         .addExternalDevice("fc.weight", CudaPointers.address(w), 0, n, rows, cols)
 *         .build(device);
 * CUdeviceptr g = CudaPointers.gradients(store, "fc.weight");     // where the backward pass writes
 * }</pre>
 *
 * <p>A {@code CUdeviceptr} made here does not own memory: freeing it stays with whoever allocated the memory.
 */
public final class CudaPointers {
    private CudaPointers() {
    }

    /**
     * A JCuda pointer to device address {@code address}, for passing to JCuda calls.
     *
     * @throws IllegalArgumentException for address 0 (JCuda's null pointer means "no pointer", never a tensor)
     */
    public static CUdeviceptr pointer(long address) {
        if (address == 0) {
            throw new IllegalArgumentException("device address must be non-zero, got 0x0");
        }
        return new CUdeviceptr().withByteOffset(address);
    }

    /**
     * The device address a JCuda pointer refers to: where {@code cuMemAlloc} put it, plus any
     * {@link CUdeviceptr#withByteOffset byte offset}.
     *
     * @throws IllegalArgumentException for a null pointer, or a {@code CUdeviceptr} that points nowhere (never
     *     allocated, and no offset)
     */
    public static long address(CUdeviceptr pointer) {
        if (pointer == null) {
            throw new IllegalArgumentException("pointer must be a CUdeviceptr, got null");
        }
        long a = new Reader(pointer).address();
        if (a == 0) {
            throw new IllegalArgumentException("the CUdeviceptr points nowhere (address 0x0): allocate it first");
        }
        return a;
    }

    /**
     * A JCuda pointer to the first parameter of tensor {@code name} of {@code store}: its own buffer or the
     * caller's memory of an external tensor.
     *
     * @throws IllegalArgumentException for an unknown name
     * @throws UnsupportedOperationException for a store on the CPU backend, which has no device addresses
     */
    public static CUdeviceptr parameters(ParameterStore store, String name) {
        return pointer(store.parameterAddress(name));
    }

    /**
     * A JCuda pointer to the first gradient of tensor {@code name} of {@code store}.
     *
     * @throws IllegalArgumentException for an unknown name
     * @throws UnsupportedOperationException for a store on the CPU backend, which has no device addresses
     */
    public static CUdeviceptr gradients(ParameterStore store, String name) {
        return pointer(store.gradientAddress(name));
    }

    /** Reads a pointer's address through JCuda's protected accessors, from a copy that shares it. */
    private static final class Reader extends CUdeviceptr {
        Reader(CUdeviceptr p) {
            super(p, 0);
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }
}
