package io.fusedopt.core;

import java.util.Arrays;

/**
 * One tensor of a {@code io.fusedopt.ParameterStore}: a named view of {@link #length()} elements starting at element
 * {@link #offset()} of the arena. The same view addresses the parameters, the gradients and every state slot.
 */
public final class Tensor {
    private final String name;
    private final long[] shape;
    private final long offset;
    private final long length;
    private final int index;

    /**
     * Creates a view; {@code io.fusedopt.ParameterStore} lays tensors out and is the only intended caller.
     *
     * @param name the unique name
     * @param shape the shape, row-major (copied)
     * @param offset the first element in the arena
     * @param length the number of elements
     * @param index the position in the store
     */
    public Tensor(String name, long[] shape, long offset, long length, int index) {
        this.name = name;
        this.shape = shape.clone();
        this.offset = offset;
        this.length = length;
        this.index = index;
    }

    /** The tensor's unique name. */
    public String name() {
        return name;
    }

    /** The shape, row-major; a copy. */
    public long[] shape() {
        return shape.clone();
    }

    /** The element offset of the tensor's first element in the arena (64-bit, aligned to {@link LaunchConfig#ALIGN}). */
    public long offset() {
        return offset;
    }

    /** The number of elements (the product of the shape). */
    public long length() {
        return length;
    }

    /** The position of the tensor in its store, from 0, in declaration order. */
    public int index() {
        return index;
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
