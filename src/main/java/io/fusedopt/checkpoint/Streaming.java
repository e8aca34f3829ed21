package io.fusedopt.checkpoint;

import static io.fusedopt.Checkpoint.TENSOR_STATE;
import static io.fusedopt.checkpoint.Safetensors.hex;
import static io.fusedopt.checkpoint.Safetensors.readFully;
import static io.fusedopt.checkpoint.Safetensors.writeFully;

import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.Optimizer;
import io.fusedopt.Tensor;
import io.fusedopt.checkpoint.Safetensors.ChannelData;
import io.fusedopt.checkpoint.Safetensors.Data;
import io.fusedopt.checkpoint.Safetensors.Item;
import io.fusedopt.checkpoint.Safetensors.MemoryData;
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
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
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
    // Fixed width, so the header written with placeholders before the data has the length of the final one.
    private static final String PLACEHOLDER_CRC = "00000000";

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
     * at the last moment).
     *
     * @throws IllegalArgumentException when {@code sliceElements} is below 1
     * @throws IllegalStateException when the optimizer's store is closed
     * @throws CheckpointException naming the file when it cannot be written
     */
    public static void save(Optimizer opt, Path file, int sliceElements, Runnable beforeMove) {
        Objects.requireNonNull(opt, "optimizer must not be null");
        Objects.requireNonNull(file, "file must not be null");
        if (sliceElements < 1) {
            throw new IllegalArgumentException("sliceElements must be >= 1, got " + sliceElements);
        }
        if (opt.store().isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        if (Files.isDirectory(file)) {
            throw new CheckpointException(file, "is a directory; give the path of a checkpoint file");
        }
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || target.getFileName() == null) {
            throw new CheckpointException(file, "has no file name");
        }
        // Steps run asynchronously on CUDA; the state read below must be that of every step issued so far.
        opt.synchronize();
        List<Tensor> tensors = opt.store().tensors();
        List<String> slots = opt.slotNames();
        int width = opt.rule().tensorStateWidth();
        double[] tensorState = opt.tensorState();
        List<Planned> plan = plan(tensors, slots, width);
        Map<String, String> placeholders = new LinkedHashMap<>();
        for (Planned p : plan) {
            placeholders.put(p.name, PLACEHOLDER_CRC);
        }
        List<Item> items = items(plan);
        byte[] header = Safetensors.header(items, Schema.metadata(opt, width, placeholders, items));
        if (header.length > Safetensors.MAX_HEADER_BYTES) {
            throw new CheckpointException(file, "cannot write: the header would be " + header.length
                    + " bytes, over the " + Safetensors.MAX_HEADER_BYTES + "-byte limit that loading accepts ("
                    + tensors.size() + " tensors with " + slots.size() + " slots each)");
        }
        long dataStart = 8L + header.length;

        Path tmp = TempFiles.next(target);
        FileChannel ch = null;
        boolean created = false;
        boolean moved = false;
        try {
            ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            created = true;
            Map<String, String> checksums = new LinkedHashMap<>();
            ByteBuffer buf = ByteBuffer.allocateDirect(sliceElements * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            float[] floats = new float[sliceElements];
            // Lookahead's slow weights are first set by step 1; until then the device buffer holds whatever the
            // allocation held (CUDA does not clear it), which must not leak into a file. Step 1 overwrites them.
            boolean slowUndefined = opt.lookaheadK() > 0 && opt.stepCount() == 0;
            for (Planned p : plan) {
                CRC32C crc = new CRC32C();
                if (p.tensor != null) {
                    boolean zeros = slowUndefined && p.slot.equals("slow");
                    for (long at = 0; at < p.tensor.length(); ) {
                        int n = (int) Math.min(sliceElements, p.tensor.length() - at);
                        if (zeros) {
                            Arrays.fill(floats, 0, n, 0f);
                        } else {
                            opt.readState(p.tensor.name(), p.slot, at, floats, 0, n);
                        }
                        buf.clear();
                        buf.asFloatBuffer().put(floats, 0, n);
                        buf.limit(n * Float.BYTES);
                        crc.update(buf.duplicate());
                        writeFully(ch, buf, dataStart + p.begin + at * Float.BYTES);
                        at += n;
                    }
                } else {
                    ByteBuffer ts = ByteBuffer.allocate(tensorState.length * Double.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                    ts.asDoubleBuffer().put(tensorState);
                    crc.update(ts.duplicate());
                    writeFully(ch, ts, dataStart + p.begin);
                }
                checksums.put(p.name, hex(crc));
            }
            byte[] finalHeader = Safetensors.header(items, Schema.metadata(opt, width, checksums, items));
            if (finalHeader.length != header.length) {
                throw new IllegalStateException("checkpoint header changed length from " + header.length + " to "
                        + finalHeader.length + " bytes while writing " + file);
            }
            ByteBuffer head = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(header.length).put(finalHeader).flip();
            writeFully(ch, head, 0);
            ch.force(true);
            ch.close();
            ch = null;
            beforeMove.run();
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            moved = true;
            syncDirectory(dir);
            TempFiles.removeStale(target, target);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot write: " + Json.ioProblem(e), e);
        } finally {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // the write already failed; the temporary file is deleted below
                }
            }
            // Only a file this call created may be deleted: CREATE_NEW fails on a name someone else holds.
            if (created && !moved) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // nothing more to do: the target was never touched
                }
            }
        }
    }

    /** One entry to write: a slot of a tensor, or the per-tensor state when {@code tensor} is null. */
    private record Planned(String name, Tensor tensor, String slot, String dtype, long[] shape, long begin, long end) {
    }

    private static List<Planned> plan(List<Tensor> tensors, List<String> slots, int width) {
        List<Planned> plan = new ArrayList<>();
        long off = 0;
        for (Tensor t : tensors) {
            for (String s : slots) {
                long end = Math.addExact(off, Math.multiplyExact(t.length(), (long) Float.BYTES));
                plan.add(new Planned(t.name() + "." + s, t, s, "F32", t.shape(), off, end));
                off = end;
            }
        }
        if (width > 0) {
            long end = Math.addExact(off, (long) tensors.size() * width * Double.BYTES);
            plan.add(new Planned(TENSOR_STATE, null, null, "F64", new long[] {tensors.size(), width}, off, end));
        }
        return plan;
    }

    private static List<Item> items(List<Planned> plan) {
        List<Item> out = new ArrayList<>();
        for (Planned p : plan) {
            out.add(new Item(p.name, p.dtype, Arrays.stream(p.shape).boxed().toList(), p.begin, p.end, null, null));
        }
        return out;
    }

    // The rename is durable only once the directory entry is on disk too; not every platform can open a
    // directory, and the file itself is already forced, so a failure here is not an error.
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
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
            // Everything is verified: from here on the optimizer changes.
            apply(opt, file, p, inMemory ? data : new PlainData(raf, p.dataStart), !inMemory, buf, sliceElements);
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

    /** Writes every verified slot entry into the optimizer. */
    private static void apply(Optimizer opt, Path file, Schema.Parsed p, Data data, boolean recheck, ByteBuffer buf,
            int sliceElements) throws IOException {
        opt.synchronize();
        float[] floats = new float[sliceElements];
        for (Item e : p.entries) {
            if (e.name().equals(TENSOR_STATE)) {
                continue;
            }
            CRC32C crc = recheck ? new CRC32C() : null;
            long len = (e.end() - e.begin()) / Float.BYTES;
            for (long at = 0; at < len; ) {
                int n = (int) Math.min(sliceElements, len - at);
                buf.clear().limit(n * Float.BYTES);
                data.read(e.begin() + at * Float.BYTES, buf);
                buf.flip();
                if (crc != null) {
                    crc.update(buf.duplicate());
                }
                buf.asFloatBuffer().get(floats, 0, n);
                opt.writeState(e.tensor(), e.slot(), at, floats, 0, n);
                at += n;
            }
            if (crc != null && !hex(crc).equals(p.checksums.get(e.name()))) {
                throw new CheckpointException(file, "changed while it was being loaded (entry '" + e.name()
                        + "' no longer matches its checksum); the optimizer's state is now partly overwritten:"
                        + " load an intact checkpoint again");
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
