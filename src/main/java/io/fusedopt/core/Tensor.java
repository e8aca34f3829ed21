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
    private final boolean external;

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
        this(name, shape, offset, length, index, false);
    }

    /**
     * Creates a view whose parameters (and perhaps gradients) live in memory the caller owns; the state slots are
     * still placed at {@code offset} of the arena.
     *
     * @param external whether the caller registered the tensor's memory
     */
    public Tensor(String name, long[] shape, long offset, long length, int index, boolean external) {
        this.name = name;
        this.shape = shape.clone();
        this.offset = offset;
        this.length = length;
        this.index = index;
        this.external = external;
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

    /**
     * Whether the caller owns the tensor's parameters (and perhaps its gradients): registered with
     * {@code ParameterStore.Builder.addExternal} rather than placed in the store's own buffers.
     */
    public boolean external() {
        return external;
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
