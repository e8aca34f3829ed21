package io.fusedopt.bench;

import io.fusedopt.core.FusedOptException;
import io.fusedopt.Device;
import io.fusedopt.ParameterStore;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The tensors a benchmark lays out in the arena: a name for reports and an ordered list of (name, shape).
 *
 * <p>{@link #gpt2Small()} is GPT-2 small (124M parameters, 148 tensors) in Hugging Face's naming;
 * {@link #single(long)} is one flat tensor, which may exceed 2^31 elements; {@link #uniform(int, long)} is many
 * tensors of one length.
 */
public final class ModelLayout {
    /** One tensor of a layout: its name and shape. */
    public record Entry(String name, long[] shape) {
        /**
         * Creates an entry; the shape is copied.
         *
         * @throws IllegalArgumentException for an empty name or shape, or a dimension below 1
         */
        public Entry {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("tensor name must be non-empty");
            }
            if (shape == null || shape.length == 0) {
                throw new IllegalArgumentException("shape of '" + name + "' must have at least one dimension");
            }
            shape = shape.clone();
            for (long d : shape) {
                if (d < 1) {
                    throw new IllegalArgumentException("shape of '" + name + "' has a dimension below 1: " + d);
                }
            }
        }

        /** The shape; a copy. */
        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** The element count (product of the shape). */
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    private final String name;
    private final List<Entry> entries;

    private ModelLayout(String name, List<Entry> entries) {
        this.name = name;
        this.entries = Collections.unmodifiableList(new ArrayList<>(entries));
    }

    /** GPT-2 small's hidden size. */
    private static final int D = 768;

    /**
     * GPT-2 small: {@code wte} 50257×768, {@code wpe} 1024×768, 12 blocks of {@code ln_1}, {@code attn.c_attn}
     * (768×2304), {@code attn.c_proj} (768×768), {@code ln_2}, {@code mlp.c_fc} (768×3072), {@code mlp.c_proj}
     * (3072×768), each a weight and a bias, then {@code ln_f}: 148 tensors, 124,439,808 parameters.
     */
    public static ModelLayout gpt2Small() {
        List<Entry> e = new ArrayList<>();
        e.add(new Entry("wte.weight", new long[] {50257, D}));
        e.add(new Entry("wpe.weight", new long[] {1024, D}));
        for (int b = 0; b < 12; b++) {
            String p = "h." + b + ".";
            e.add(new Entry(p + "ln_1.weight", new long[] {D}));
            e.add(new Entry(p + "ln_1.bias", new long[] {D}));
            e.add(new Entry(p + "attn.c_attn.weight", new long[] {D, 3 * D}));
            e.add(new Entry(p + "attn.c_attn.bias", new long[] {3 * D}));
            e.add(new Entry(p + "attn.c_proj.weight", new long[] {D, D}));
            e.add(new Entry(p + "attn.c_proj.bias", new long[] {D}));
            e.add(new Entry(p + "ln_2.weight", new long[] {D}));
            e.add(new Entry(p + "ln_2.bias", new long[] {D}));
            e.add(new Entry(p + "mlp.c_fc.weight", new long[] {D, 4 * D}));
            e.add(new Entry(p + "mlp.c_fc.bias", new long[] {4 * D}));
            e.add(new Entry(p + "mlp.c_proj.weight", new long[] {4 * D, D}));
            e.add(new Entry(p + "mlp.c_proj.bias", new long[] {D}));
        }
        e.add(new Entry("ln_f.weight", new long[] {D}));
        e.add(new Entry("ln_f.bias", new long[] {D}));
        return new ModelLayout("gpt2-small", e);
    }

    /**
     * One tensor named {@code params} of {@code n} elements.
     *
     * @throws IllegalArgumentException when {@code n < 1}
     */
    public static ModelLayout single(long n) {
        if (n < 1) {
            throw new IllegalArgumentException("params must be >= 1, got " + n);
        }
        return new ModelLayout("params", List.of(new Entry("params", new long[] {n})));
    }

    /**
     * {@code count} tensors of {@code length} elements each, named {@code t0}, {@code t1} ...: the many-small-tensors
     * layout, where per-tensor costs show.
     *
     * @throws IllegalArgumentException when {@code count < 1} or {@code length < 1}
     */
    public static ModelLayout uniform(int count, long length) {
        if (count < 1 || length < 1) {
            throw new IllegalArgumentException("need count >= 1 and length >= 1, got " + count + " and " + length);
        }
        List<Entry> e = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            e.add(new Entry("t" + i, new long[] {length}));
        }
        return new ModelLayout(count + "x" + length, e);
    }

    /**
     * The layout named {@code model}; only {@code gpt2-small} is known.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static ModelLayout named(String model) {
        if ("gpt2-small".equals(model)) {
            return gpt2Small();
        }
        throw new IllegalArgumentException("unknown model '" + model + "'; known: gpt2-small");
    }

    /** {@code gpt2-small}, or {@code params} for a single tensor. */
    public String name() {
        return name;
    }

    /** The tensors, in arena order. */
    public List<Entry> entries() {
        return entries;
    }

    /** Number of tensors. */
    public int tensorCount() {
        return entries.size();
    }

    /** Sum of the tensors' element counts (arena padding excluded). */
    public long parameterCount() {
        long n = 0;
        for (Entry e : entries) {
            n = Math.addExact(n, e.elements());
        }
        return n;
    }

    /**
     * Declares the tensors and allocates the arena on {@code device}.
     *
     * @throws io.fusedopt.core.FusedOptException when the device (or the Java heap, on the CPU) cannot hold it
     */
    public ParameterStore build(Device device) {
        return build(device, io.fusedopt.core.Dtype.FLOAT32);
    }

    /** As {@link #build(Device)}, with parameters and gradients stored in {@code dtype}. */
    public ParameterStore build(Device device, io.fusedopt.core.Dtype dtype) {
        ParameterStore.Builder b = ParameterStore.builder().dtype(dtype);
        for (Entry e : entries) {
            b.add(e.name(), e.shape());
        }
        return b.build(device);
    }
}
