package io.fusedopt.backend;

import java.util.Arrays;

/**
 * Which tensors of one buffer (the parameters or the gradients of a store) live in memory the caller owns, and
 * where: per tensor index a Java array (the CPU backend) or a device address (CUDA), or nothing when the store
 * allocates the tensor itself. The backends wrap that memory without copying it; it must stay valid until the
 * buffer is closed.
 */
public final class CallerMemory {
    private final float[][] arrays;
    private final long[] addresses;

    private CallerMemory(float[][] arrays, long[] addresses) {
        this.arrays = arrays;
        this.addresses = addresses;
    }

    /** No caller memory: every one of {@code tensors} tensors is allocated by the backend. */
    public static CallerMemory none(int tensors) {
        return new CallerMemory(new float[tensors][], new long[tensors]);
    }

    /**
     * Caller memory by tensor index: {@code arrays[t]} or {@code addresses[t]} (0: none) for tensor {@code t}; at
     * most one of the two per tensor. The arrays are kept, not copied.
     *
     * @throws IllegalArgumentException when the two tables differ in length or a tensor has both
     */
    public static CallerMemory of(float[][] arrays, long[] addresses) {
        if (arrays.length != addresses.length) {
            throw new IllegalArgumentException("caller memory for " + arrays.length + " and " + addresses.length
                    + " tensors");
        }
        for (int t = 0; t < arrays.length; t++) {
            if (arrays[t] != null && addresses[t] != 0) {
                throw new IllegalArgumentException("tensor " + t + " has both a Java array and a device address");
            }
        }
        return new CallerMemory(arrays.clone(), addresses.clone());
    }

    /** The caller's array for tensor {@code t}, or null. */
    public float[] array(int t) {
        return arrays[t];
    }

    /** The caller's device address for tensor {@code t}, or 0. */
    public long address(int t) {
        return addresses[t];
    }

    /** Whether tensor {@code t} lives in caller memory. */
    public boolean callerOwned(int t) {
        return arrays[t] != null || addresses[t] != 0;
    }

    /** Whether any tensor uses a Java array. */
    public boolean anyArray() {
        return Arrays.stream(arrays).anyMatch(a -> a != null);
    }

    /** Whether any tensor uses a device address. */
    public boolean anyAddress() {
        return Arrays.stream(addresses).anyMatch(a -> a != 0);
    }

    /** Number of tensors described. */
    public int size() {
        return arrays.length;
    }
}
