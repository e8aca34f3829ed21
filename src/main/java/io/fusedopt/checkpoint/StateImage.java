package io.fusedopt.checkpoint;

import static io.fusedopt.checkpoint.Safetensors.hex;

import io.fusedopt.Optimizer;
import io.fusedopt.checkpoint.Safetensors.Data;
import io.fusedopt.checkpoint.Safetensors.Item;
import io.fusedopt.core.Dtype;
import io.fusedopt.core.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * A checkpoint held in memory instead of a file, behind {@link Optimizer#state()} and {@link Optimizer#load}: the
 * metadata a checkpoint header would carry (configuration, counters, learning-rate control, checksums) and every
 * entry's values, laid out as {@link Saver} lays out a file. Loading one goes through the same schema, matching,
 * checksum and invariant checks as loading a file ({@link Streaming#verifyAndApply}), so a mismatch is refused
 * with the same message, {@link #SOURCE} standing where the file name would. Immutable: built by {@link #capture},
 * read through copies.
 */
public final class StateImage {
    /** What messages about an in-memory state name where a file's messages name the file. */
    public static final Path SOURCE = Path.of("(in-memory optimizer state)");

    private final Map<String, String> metadata;
    private final List<Item> items;
    private final List<String> entryNames;
    private final float[][] floats;  // per item, null for the per-tensor state
    private final double[] tensorState;
    private final long[] begins;

    private StateImage(Map<String, String> metadata, List<Item> items, float[][] floats, double[] tensorState) {
        this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        this.items = List.copyOf(items);
        this.floats = floats;
        this.tensorState = tensorState;
        this.begins = items.stream().mapToLong(Item::begin).toArray();
        this.entryNames = items.stream().map(Item::name).toList();
    }

    /**
     * Copies {@code opt}'s state (after every step issued so far has finished) into a new image.
     *
     * @throws IllegalStateException when a tensor has 2^31 - 8 elements or more, which one array cannot hold (save
     *     such an optimizer with {@link Optimizer#saveState}), or the optimizer's store is closed
     */
    public static StateImage capture(Optimizer opt) {
        Objects.requireNonNull(opt, "optimizer must not be null");
        if (opt.store().isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        opt.synchronize();
        int width = opt.rule().tensorStateWidth();
        List<Saver.Planned> plan = Saver.plan(opt.store().tensors(), opt.slotNames(), width, opt);
        double[] tensorState = opt.tensorState();
        float[][] floats = new float[plan.size()][];
        Map<String, String> checksums = new LinkedHashMap<>();
        // As in a saved file: Lookahead's slow weights are undefined until step 1 sets them, and read as zeros.
        boolean slowUndefined = opt.lookaheadK() > 0 && opt.stepCount() == 0;
        ByteBuffer buf = ByteBuffer.allocate(Streaming.DEFAULT_SLICE_ELEMENTS * Float.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < plan.size(); i++) {
            Saver.Planned p = plan.get(i);
            CRC32C crc = new CRC32C();
            if (p.tensor() != null) {
                Tensor t = p.tensor();
                // A shaped slot (Adafactor's factored statistics) has its own element count, not the tensor's.
                long length = 1;
                for (long x : p.shape()) {
                    length = Math.multiplyExact(length, x);
                }
                if (length > Integer.MAX_VALUE - 8) {
                    throw new IllegalStateException("state(): slot '" + p.slot() + "' of tensor '" + t.name()
                            + "' has " + length + " elements, more than one array holds; save this optimizer with"
                            + " saveState(file)");
                }
                float[] a = new float[(int) length];
                if (!(slowUndefined && p.slot().equals("slow"))) {
                    opt.readState(t.name(), p.slot(), 0, a, 0, a.length);
                }
                // The checksum is of the entry's bytes in its dtype, as in a file; a 16-bit value is held widened,
                // which is exact, and narrows back to itself.
                Dtype d = Dtype.ofSafetensors(p.dtype());
                for (int at = 0; at < a.length; at += Streaming.DEFAULT_SLICE_ELEMENTS) {
                    int n = Math.min(Streaming.DEFAULT_SLICE_ELEMENTS, a.length - at);
                    buf.clear();
                    put(buf, d, a, at, n);
                    crc.update(buf.limit(n * d.bytes()));
                }
                floats[i] = a;
            } else {
                ByteBuffer ts = ByteBuffer.allocate(tensorState.length * Double.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                ts.asDoubleBuffer().put(tensorState);
                crc.update(ts);
            }
            checksums.put(p.name(), hex(crc));
        }
        List<Item> items = Saver.items(plan);
        return new StateImage(Schema.metadata(opt, width, checksums, items), items, floats, tensorState.clone());
    }

    /**
     * Replaces {@code opt}'s state with this image's, after the checks a checkpoint file gets; {@code counters}
     * receives the counters and the learning-rate control last.
     *
     * @throws io.fusedopt.CheckpointException naming {@link #SOURCE} and the problem (a different configuration or
     *     different tensors); the optimizer is then unchanged
     */
    public void load(Optimizer opt, Streaming.Counters counters) {
        Objects.requireNonNull(opt, "optimizer must not be null");
        if (opt.store().isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        Schema.Parsed p = Schema.parse(SOURCE, metadata, items);
        p.dataLength = items.isEmpty() ? 0 : items.get(items.size() - 1).end();
        Matching.Matched m = Matching.match(SOURCE, p, opt);
        Data data = this::read;
        try {
            Streaming.verifyAndApply(opt, SOURCE, p, m, data, data, false, Streaming.DEFAULT_SLICE_ELEMENTS,
                    () -> { }, counters);
        } catch (IOException e) {
            throw new UncheckedIOException("reading an in-memory state cannot fail", e);
        }
    }

    /** The metadata a checkpoint of the same state would carry (see {@link io.fusedopt.Checkpoint}). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The entry names, {@code <tensor>.<slot>} and (for a rule with per-tensor state) the tensor state, in order. */
    public List<String> entryNames() {
        return entryNames;
    }

    /** A copy of the values of entry {@code <tensor>.<slot>}; rejects an unknown entry. */
    public float[] slot(String tensor, String slot) {
        int i = entryNames.indexOf(tensor + "." + slot);
        if (i < 0 || floats[i] == null) {
            throw new IllegalArgumentException("no state slot '" + slot + "' of tensor '" + tensor + "' in this"
                    + " state; entries are " + entryNames);
        }
        return floats[i].clone();
    }

    /** A copy of the per-tensor state, {@code [tensors × width]} in store order; empty for rules without it. */
    public double[] tensorState() {
        return tensorState.clone();
    }

    /** Writes {@code n} values from {@code a[at..]} at {@code buf}'s position 0 in dtype {@code d}, little-endian. */
    private static void put(ByteBuffer buf, Dtype d, float[] a, int at, int n) {
        ByteBuffer le = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (d.isHalf()) {
            for (int k = 0; k < n; k++) {
                le.putShort(le.position() + 2 * k, d.narrow(a[at + k]));
            }
        } else {
            le.asFloatBuffer().put(a, at, n);
        }
    }

    // The entries as the little-endian bytes a file would hold, each in its dtype.
    private void read(long offset, ByteBuffer dst) {
        while (dst.hasRemaining()) {
            int i = java.util.Arrays.binarySearch(begins, offset);
            i = i >= 0 ? i : -i - 2;
            // Empty entries (a shaped slot a tensor does not use, such as Muon's fallback moments of a matrix)
            // begin where the next one does: step over them to the entry that holds the offset.
            while (i + 1 < items.size() && items.get(i).end() <= offset) {
                i++;
            }
            Item e = items.get(i);
            Dtype d = floats[i] != null ? Dtype.ofSafetensors(e.dtype()) : null;
            int size = d != null ? d.bytes() : Double.BYTES;
            long from = (offset - e.begin()) / size;
            int n = (int) Math.min(dst.remaining() / size, (e.end() - offset) / size);
            if (n == 0 || (offset - e.begin()) % size != 0) {
                throw new IllegalArgumentException("read of " + dst.remaining() + " bytes at " + offset
                        + " does not cover whole values of entry '" + e.name() + "'");
            }
            ByteBuffer at = dst.slice();
            if (d != null) {
                put(at, d, floats[i], (int) from, n);
            } else {
                at.order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().put(tensorState, (int) from, n);
            }
            dst.position(dst.position() + n * size);
            offset += (long) n * size;
        }
    }
}
