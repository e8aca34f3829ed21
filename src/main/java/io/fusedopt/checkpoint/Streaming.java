package io.fusedopt.checkpoint;

import static io.fusedopt.Checkpoint.TENSOR_STATE;
import static io.fusedopt.checkpoint.Safetensors.hex;
import static io.fusedopt.checkpoint.Safetensors.readFully;

import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.Optimizer;
import io.fusedopt.checkpoint.Safetensors.ChannelData;
import io.fusedopt.checkpoint.Safetensors.Data;
import io.fusedopt.checkpoint.Safetensors.Item;
import io.fusedopt.checkpoint.Safetensors.MemoryData;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Moves optimizer state between a live optimizer and a checkpoint file in slices, so that no tensor has to fit in
 * one array: {@link #save}, {@link #load} and {@link #inspect}. The guarantees are those of {@link Checkpoint}.
 */
public final class Streaming {
    /** Floats per slice when streaming a tensor (4 MiB). */
    public static final int DEFAULT_SLICE_ELEMENTS = 1 << 20;

    private Streaming() {
    }

    /** Where a load puts the step count, the skipped count and the per-tensor state once the slots are written. */
    @FunctionalInterface
    public interface Counters {
        /** Replaces the optimizer's counters and per-tensor state. */
        void restore(long stepCount, long skippedCount, double[] tensorState);
    }

    // ------------------------------------------------------------------------------------------------ saving

    /**
     * Writes {@code opt}'s state to {@code file}, streaming {@code sliceElements} floats at a time, and runs
     * {@code beforeMove} after the temporary file is complete and forced, before the rename (tests use it to fail
     * at the last moment). See {@link Saver}.
     *
     * @throws IllegalArgumentException when {@code sliceElements} is below 1
     * @throws IllegalStateException when the optimizer's store is closed
     * @throws CheckpointException naming the file when it cannot be written
     */
    public static void save(Optimizer opt, Path file, int sliceElements, Runnable beforeMove) {
        Saver.save(opt, file, sliceElements, beforeMove);
    }

    // ------------------------------------------------------------------------------------------------ loading

    /** The largest data section {@link #load} reads into memory before applying it. */
    public static long defaultMemoryLimit() {
        return Math.min(Runtime.getRuntime().maxMemory() / 4, 1L << 30);
    }

    /**
     * Loads {@code file} into {@code opt}, streaming {@code sliceElements} floats at a time, holding the data in
     * memory when it is at most {@code memoryLimit} bytes; {@code counters} receives the counters last.
     *
     * @throws IllegalArgumentException when {@code sliceElements} is below 1
     * @throws IllegalStateException when the optimizer's store is closed
     * @throws CheckpointException naming the file and the problem
     */
    public static void load(Optimizer opt, Path file, int sliceElements, long memoryLimit, Counters counters) {
        load(opt, file, sliceElements, memoryLimit, counters, () -> { });
    }

    /** As {@link #load(Optimizer, Path, int, long, Counters)}; runs {@code afterFirstSlice} once the first slice is applied. */
    static void load(Optimizer opt, Path file, int sliceElements, long memoryLimit, Counters counters,
            Runnable afterFirstSlice) {
        Objects.requireNonNull(opt, "optimizer must not be null");
        Objects.requireNonNull(file, "file must not be null");
        if (sliceElements < 1) {
            throw new IllegalArgumentException("sliceElements must be >= 1, got " + sliceElements);
        }
        if (opt.store().isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        Safetensors.checkRegular(file);
        // One open file for both passes: the channel for verifying (an interrupt closes it, and then nothing has
        // changed yet), and plain reads of the same file for applying, which an interrupt cannot stop halfway.
        try (RandomAccessFile raf = openForApply(file)) {
            FileChannel ch = raf.getChannel();
            Schema.Parsed p = Schema.parse(file, ch);
            Matching.Matched m = Matching.match(file, p, opt);
            boolean inMemory = p.dataLength <= Math.min(memoryLimit, Integer.MAX_VALUE - 8L);
            Data data;
            if (inMemory) {
                ByteBuffer all = ByteBuffer.allocate((int) p.dataLength);
                readFully(ch, all, p.dataStart);
                data = new MemoryData(all.array());
            } else {
                data = new ChannelData(ch, p.dataStart);
            }
            ByteBuffer buf = ByteBuffer.allocate(sliceElements * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            List<String> bad = new ArrayList<>();
            for (Item e : p.entries) {
                String crc = Safetensors.crc(data, e.begin(), e.end(), buf);
                if (!crc.equals(p.checksums.get(e.name()))) {
                    bad.add("'" + e.name() + "' (recorded " + p.checksums.get(e.name()) + ", computed " + crc + ")");
                }
            }
            if (!bad.isEmpty()) {
                throw new CheckpointException(file, "checksum mismatch in " + bad.size() + " of " + p.entries.size()
                        + " entries, first " + bad.get(0) + ": the file is corrupt");
            }
            double[] tensorState = readTensorState(p, m, data, opt);
            checkInvariants(file, p, data, opt, buf, tensorState);
            // Everything is verified: from here on the optimizer changes.
            apply(opt, file, p, inMemory ? data : new PlainData(raf, p.dataStart), !inMemory, buf, sliceElements,
                    afterFirstSlice);
            counters.restore(p.step, p.skipped, tensorState);
        } catch (ClosedByInterruptException e) {
            throw new CheckpointException(file, "cannot read: the loading thread was interrupted while the file was"
                    + " being verified; the optimizer is unchanged", e);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + Json.ioProblem(e), e);
        }
    }

    // RandomAccessFile says FileNotFoundException for every failure to open; name the usual two as FileChannel does.
    private static RandomAccessFile openForApply(Path file) throws IOException {
        try {
            return new RandomAccessFile(file.toFile(), "r");
        } catch (FileNotFoundException e) {
            if (Files.notExists(file)) {
                throw new NoSuchFileException(file.toString());
            }
            if (!Files.isReadable(file)) {
                throw new AccessDeniedException(file.toString());
            }
            throw e;
        }
    }

    /**
     * Writes every verified slot entry into the optimizer. Streamed from the file ({@code recheck}), each slice's
     * earlier state is first kept in an {@link UndoLog}, and a failure puts it all back before it is reported.
     */
    private static void apply(Optimizer opt, Path file, Schema.Parsed p, Data data, boolean recheck, ByteBuffer buf,
            int sliceElements, Runnable afterFirstSlice) throws IOException {
        opt.synchronize();
        float[] floats = new float[sliceElements];
        UndoLog undo = null;
        if (recheck) {
            try {
                undo = UndoLog.create();
            } catch (IOException e) {
                throw new CheckpointException(file, "cannot keep the state it replaces in java.io.tmpdir for an"
                        + " undo (" + Json.ioProblem(e) + "); the optimizer is unchanged", e);
            }
        }
        boolean first = true;
        float[] old = recheck ? new float[sliceElements] : null;
        ByteBuffer oldBuf = recheck ? ByteBuffer.allocate(sliceElements * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN)
                : null;
        try {
            for (Item e : p.entries) {
                if (e.name().equals(TENSOR_STATE)) {
                    continue;
                }
                CRC32C crc = recheck ? new CRC32C() : null;
                io.fusedopt.core.Dtype d = io.fusedopt.core.Dtype.ofSafetensors(e.dtype());
                long len = (e.end() - e.begin()) / d.bytes();
                for (long at = 0; at < len; ) {
                    int n = (int) Math.min(sliceElements, len - at);
                    buf.clear().limit(n * d.bytes());
                    data.read(e.begin() + at * d.bytes(), buf);
                    buf.flip();
                    if (crc != null) {
                        crc.update(buf.duplicate());
                    }
                    if (d.isHalf()) {
                        for (int i = 0; i < n; i++) {
                            floats[i] = d.widen(buf.getShort(2 * i));
                        }
                    } else {
                        buf.asFloatBuffer().get(floats, 0, n);
                    }
                    if (undo != null) {
                        undo.keep(opt, e, at, n, old, oldBuf);
                    }
                    opt.writeState(e.tensor(), e.slot(), at, floats, 0, n);
                    at += n;
                    if (first) {
                        first = false;
                        afterFirstSlice.run();
                    }
                }
                if (crc != null && !hex(crc).equals(p.checksums.get(e.name()))) {
                    throw new CheckpointException(file, "changed while it was being loaded (entry '" + e.name()
                            + "' no longer matches its checksum)");
                }
            }
        } catch (IOException | CheckpointException e) {
            if (undo == null) {
                throw e;
            }
            String problem = e instanceof CheckpointException ce ? ce.problem() : "cannot read: " + Json.ioProblem(
                    (IOException) e);
            try {
                undo.restore(opt, floats, buf);
            } catch (IOException | RuntimeException again) {
                throw new CheckpointException(file, problem + "; putting back the earlier state failed too ("
                        + again + "): the optimizer's state is partly overwritten, load an intact checkpoint", e);
            }
            throw new CheckpointException(file, problem + "; the optimizer is unchanged", e);
        } finally {
            if (undo != null) {
                undo.close();
            }
        }
    }

    /** The data section read with plain (uninterruptible) reads of the open file, for the apply pass. */
    private record PlainData(RandomAccessFile raf, long dataStart) implements Data {
        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            raf.seek(dataStart + offset);
            raf.readFully(dst.array(), dst.arrayOffset() + dst.position(), dst.remaining());
            dst.position(dst.limit());
        }
    }

    /**
     * Refuses a state the rule's steps cannot produce (the registry's domains): a negative second moment or
     * accumulator, a per-tensor state the rule rejects (a SWATS phase of 0.5), or a NaN in a non-negative slot of
     * a checkpoint saved under SKIP or THROW, which never let a non-finite gradient reach the state. (Under
     * PROPAGATE a NaN gradient does make the state NaN, and such a checkpoint loads as saved.)
     */
    private static void checkInvariants(Path file, Schema.Parsed p, Data data, Optimizer opt, ByteBuffer buf,
            double[] tensorState) throws IOException {
        io.fusedopt.rule.Rule rule = opt.rule();
        JsonNode policy = p.optimizer.get("non_finite");
        boolean nanPossible = policy == null || !policy.isTextual() || "PROPAGATE".equals(policy.asText());
        List<String> slots = rule.slots();
        for (int s = 0; s < slots.size(); s++) {
            if (rule.slotDomain(s) != io.fusedopt.rule.Rule.SlotDomain.NON_NEGATIVE) {
                continue;
            }
            for (io.fusedopt.core.Tensor t : opt.store().tensors()) {
                String name = t.name() + "." + slots.get(s);
                Item e = p.item(name);
                io.fusedopt.core.Dtype d = io.fusedopt.core.Dtype.ofSafetensors(e.dtype());
                for (long at = e.begin(); at < e.end(); at += buf.capacity()) {
                    buf.clear();
                    buf.limit((int) Math.min(buf.capacity(), e.end() - at));
                    data.read(at, buf);
                    buf.flip();
                    while (buf.remaining() >= d.bytes()) {
                        int index = (int) ((at - e.begin() + buf.position()) / d.bytes());
                        float v = d.isHalf() ? d.widen(buf.getShort()) : buf.getFloat();
                        if (v < 0 || (v != v && !nanPossible)) {
                            throw new CheckpointException(file, "'" + name + "' element " + index + " is " + v
                                    + ", which " + rule.id() + " cannot produce (" + slots.get(s) + " is never "
                                    + (v < 0 ? "negative" : "NaN under the " + policy.asText() + " policy")
                                    + "); the optimizer is unchanged");
                        }
                    }
                }
            }
        }
        int width = rule.tensorStateWidth();
        for (int i = 0; width > 0 && i < tensorState.length / width; i++) {
            String why = rule.invalidTensorState(tensorState, i * width);
            if (why != null) {
                throw new CheckpointException(file, TENSOR_STATE + " of tensor '" + opt.store().tensors().get(i).name()
                        + "': " + why + ", which " + rule.id() + " cannot produce; the optimizer is unchanged");
            }
        }
    }

    private static double[] readTensorState(Schema.Parsed p, Matching.Matched m, Data data, Optimizer opt)
            throws IOException {
        int width = opt.rule().tensorStateWidth();
        int count = opt.store().tensors().size();
        double[] out = new double[count * width];
        if (width == 0) {
            return out;
        }
        Item e = p.item(TENSOR_STATE);
        ByteBuffer b = ByteBuffer.allocate((int) (e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
        data.read(e.begin(), b);
        b.flip();
        double[] stored = new double[(int) ((e.end() - e.begin()) / Double.BYTES)];
        b.asDoubleBuffer().get(stored);
        // Rows are in the saved store's order; the loading store may list the same tensors in another order.
        for (int i = 0; i < p.tensors.size(); i++) {
            int to = m.liveIndex().get(p.tensors.get(i).name());
            System.arraycopy(stored, i * width, out, to * width, width);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ inspecting

    /** See {@link Checkpoint#inspect}. */
    public static Checkpoint.Info inspect(Path file) {
        Objects.requireNonNull(file, "file must not be null");
        try (FileChannel ch = Safetensors.open(file)) {
            Schema.Parsed p = Schema.parse(file, ch);
            Data data = new ChannelData(ch, p.dataStart);
            ByteBuffer buf = ByteBuffer.allocateDirect(DEFAULT_SLICE_ELEMENTS * Float.BYTES);
            List<Checkpoint.Entry> entries = new ArrayList<>();
            for (Item e : p.entries) {
                entries.add(new Checkpoint.Entry(e.name(), e.dtype(), e.shape(), e.begin(), e.end(),
                        p.checksums.get(e.name()), Safetensors.crc(data, e.begin(), e.end(), buf)));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> optimizer = Collections.unmodifiableMap(Json.MAPPER.convertValue(p.optimizer, Map.class));
            return new Checkpoint.Info(file, p.format, p.step, p.skipped, optimizer, List.copyOf(p.tensors),
                    List.copyOf(p.slots), p.width, List.copyOf(entries), p.headerChecksum);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + Json.ioProblem(e), e);
        }
    }
}
