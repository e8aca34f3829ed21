package io.fusedopt.backend;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.Tensor;

/**
 * One buffer spanning an arena (the parameters, the gradients, or one state slot), on its backend, storing
 * {@link #dtype()}. {@link #read} and {@link #write} speak float32: a 16-bit buffer widens exactly on read and
 * rounds to nearest even on write.
 */
public interface ArenaBuffer extends AutoCloseable {
    /** The storage type of every element. */
    Dtype dtype();

    /** Copies {@code len} floats from {@code src[from..]} into tensor {@code t} starting at element {@code at}. */
    void write(Tensor t, long at, float[] src, int from, int len);

    /** Copies {@code len} floats of tensor {@code t} starting at element {@code at} into {@code dst[from..]}. */
    void read(Tensor t, long at, float[] dst, int from, int len);

    /** Sets every element of tensor {@code t} to {@code value}. */
    void fill(Tensor t, float value);

    /** Copies the whole arena from {@code other}, a buffer of the same layout and backend. */
    void copyFrom(ArenaBuffer other);

    /** The device address of tensor {@code t}'s first element; CUDA only. */
    long address(Tensor t);

    /** Frees the buffer; later calls fail. Closing twice is harmless. */
    @Override
    void close();
}
