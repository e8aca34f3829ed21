package io.fusedopt.backend;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.List;

/**
 * The arena layouts of a rule's shaped state slots ({@link Rule#slotShaped}) and of its step scratch
 * ({@link Rule#scratchLength}): per tensor a view of the size the rule gives for the tensor's shape and group, the
 * views placed one after another from element 0, each at a multiple of {@link LaunchConfig#ALIGN}. The optimizer,
 * the checkpoints and both backends derive them here, so they agree on every offset.
 */
public final class ShapedSlots {
    private ShapedSlots() {
    }

    /**
     * The layout of slot {@code slot} of {@code rule} over the parameters' {@code layout}: the parameters' own layout
     * for a slot shaped like them, otherwise one view per tensor, with the tensor's name and index and the shape
     * {@link Rule#slotShape} gives.
     *
     * @throws IllegalArgumentException when the rule gives a shape of negative size
     */
    public static ArenaLayout layout(Rule rule, int slot, ArenaLayout layout) {
        if (!rule.slotShaped(slot)) {
            return layout;
        }
        List<Tensor> views = new ArrayList<>();
        long at = 0;
        for (Tensor t : layout.tensors()) {
            long[] shape = rule.slotShape(slot, t.shape(), layout.group(t.index()));
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            if (n < 0) {
                throw new IllegalArgumentException(rule.id() + " gives slot " + rule.slots().get(slot) + " of tensor '"
                        + t.name() + "' a negative size");
            }
            views.add(new Tensor(t.name(), shape, at, n, t.index()));
            at = align(at + n);
        }
        return new ArenaLayout(views, layout.groups(), layout.groupCount(), Math.max(at, LaunchConfig.ALIGN));
    }

    /**
     * Where each tensor's step scratch starts, in floats, and at index {@code tensors} the scratch's total length
     * (0 for a rule without scratch).
     */
    public static long[] scratchOffsets(Rule rule, ArenaLayout layout) {
        int n = layout.tensors().size();
        long[] out = new long[n + 1];
        long at = 0;
        for (Tensor t : layout.tensors()) {
            out[t.index()] = at;
            long len = rule.scratchLength(t.shape(), layout.group(t.index()));
            at = len == 0 ? at : align(at + len);
        }
        out[n] = at;
        return out;
    }

    /**
     * The rule's geometry of every tensor ({@link Rule#tensorGeometry}), {@link Rule#tensorGeometryWidth()} longs
     * each, with the tensor's arena offset, its offset in the first shaped slot's layout, its scratch offset and
     * the first work unit of each tensor (the running sum of {@link Rule#GEOMETRY_WORK}) filled in.
     */
    public static long[] geometry(Rule rule, ArenaLayout layout) {
        int w = rule.tensorGeometryWidth();
        List<Tensor> tensors = layout.tensors();
        long[] out = new long[tensors.size() * w];
        if (w == 0) {
            return out;
        }
        ArenaLayout side = null;
        for (int s = 0; s < rule.slots().size() && side == null; s++) {
            if (rule.slotShaped(s)) {
                side = layout(rule, s, layout);
            }
        }
        long[] scratch = scratchOffsets(rule, layout);
        long work = 0;
        for (Tensor t : tensors) {
            long[] g = rule.tensorGeometry(t.shape(), layout.group(t.index()));
            g[Rule.GEOMETRY_OFFSET] = t.offset();
            g[Rule.GEOMETRY_SIDE_OFFSET] = side == null ? 0 : side.tensors().get(t.index()).offset();
            g[Rule.GEOMETRY_SCRATCH_OFFSET] = scratch[t.index()];
            g[Rule.GEOMETRY_FIRST_WORK] = work;
            work += g[Rule.GEOMETRY_WORK];
            System.arraycopy(g, 0, out, t.index() * w, w);
        }
        return out;
    }

    /** The total work units of the per-tensor passes over {@code geometry}. */
    public static long totalWork(Rule rule, long[] geometry) {
        int w = rule.tensorGeometryWidth();
        long total = 0;
        for (int i = 0; w > 0 && i < geometry.length / w; i++) {
            total += geometry[i * w + Rule.GEOMETRY_WORK];
        }
        return total;
    }

    private static long align(long at) {
        return (at + LaunchConfig.ALIGN - 1) / LaunchConfig.ALIGN * LaunchConfig.ALIGN;
    }
}
