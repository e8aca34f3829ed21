package io.fusedopt;

import io.fusedopt.core.CudaException;
import io.fusedopt.core.Tensor;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;

/**
 * Portable optimizer checkpoints: {@link Optimizer#saveState} and {@link Optimizer#loadState} write and read
 * them; {@link #inspect} reads one without an optimizer.
 *
 * <h2>Format</h2>
 * A checkpoint is a <a href="https://github.com/huggingface/safetensors">safetensors</a> file: an 8-byte
 * little-endian unsigned header length {@code N}, {@code N} bytes of UTF-8 JSON (padded with spaces so that
 * {@code N} is a multiple of 8 and the data is aligned), then the raw little-endian tensor bytes. The header
 * holds one entry per state buffer of every tensor,
 * {@code "<tensor>.<slot>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}} (offsets relative to
 * the first byte after the header), in store order and, within a tensor, in {@link Optimizer#slotNames()} order
 * (Lookahead's {@code slow} last), contiguous from byte 0. A rule with per-tensor state (SWATS's λ, Λ, phase
 * and SGD coefficient; LAMB's trust ratio) adds {@value #TENSOR_STATE}, an {@code F64} tensor of shape
 * {@code [tensors, width]}, last. Lookahead's slow weights are set by the first step, so a checkpoint saved before
 * it holds zeros for them. The header's {@value #METADATA} object holds only strings, as safetensors
 * requires:
 * <ul>
 *   <li>{@value #KEY_FORMAT}: the format version, {@code "1"};</li>
 *   <li>{@value #KEY_OPTIMIZER}: the JSON of {@link OptimizerSpec#describe} (rule, hyperparameters of every group
 *       with its tensors, schedule, Lookahead, non-finite policy);</li>
 *   <li>{@value #KEY_STEP} and {@value #KEY_SKIPPED}: the step count and the skipped-step count, in decimal;</li>
 *   <li>{@value #KEY_TENSORS}: JSON {@code [{"name": ..., "shape": [...]}, ...]} in store order;</li>
 *   <li>{@value #KEY_SLOTS}: JSON list of the slot names; {@value #KEY_TENSOR_STATE_WIDTH}: the width, in
 *       decimal;</li>
 *   <li>{@value #KEY_CHECKSUMS}: JSON {@code {"<entry>": "<crc32c, 8 lowercase hex digits>"}} of every entry's
 *       bytes.</li>
 * </ul>
 * Parameters are not in a checkpoint: they live in the {@link ParameterStore}, which the caller saves and
 * restores (a model's weights usually have their own file).
 *
 * <h2>Guarantees</h2>
 * <ul>
 *   <li>Saving is atomic: the file is written under a temporary name in the same directory, forced to disk, then
 *       renamed over the target. On any failure the temporary file is deleted and an earlier checkpoint at the
 *       path is intact.</li>
 *   <li>Loading checks everything before changing anything: the layout, the JSON, the format version, every
 *       checksum, and that the checkpoint's rule, Lookahead, groups (names, tensors, hyperparameters), schedule,
 *       tensors (names and shapes) and slots equal the loading optimizer's. The non-finite policy may differ: it
 *       only decides what happens to a future non-finite gradient. Any problem with the file is a
 *       {@link CheckpointException} naming the file and the problem, and the optimizer is unchanged (a device
 *       failure while the verified state is being written is a {@link CudaException}, after which the optimizer
 *       should be rebuilt, as after any device failure). Data up to a memory limit (a quarter of
 *       the heap, at most 1 GiB) is read and verified in memory, then applied; larger data is verified in one
 *       pass over the open file and applied in a second pass that checks the checksums again, so a file
 *       changed in place during a load (which a fusedopt writer never does) is reported, though the state may
 *       then be partly written.</li>
 *   <li>Checkpoints are portable between backends: saving on CUDA and loading on the CPU (or the reverse) and
 *       continuing gives the same bits as never having stopped.</li>
 *   <li>Tensors of 2^31 elements and more are streamed in slices; nothing holds a whole tensor in one array.</li>
 * </ul>
 */
public final class Checkpoint {
    /** The format version this class writes and the only one it reads. */
    public static final int FORMAT_VERSION = 1;
    /** The entry of the per-tensor state, {@code F64 [tensors, width]}. */
    public static final String TENSOR_STATE = "__tensor_state__";
    /** The safetensors metadata key of the header. */
    public static final String METADATA = "__metadata__";
    /** Metadata key of the format version. */
    public static final String KEY_FORMAT = "fusedopt.format";
    /** Metadata key of the optimizer description. */
    public static final String KEY_OPTIMIZER = "fusedopt.optimizer";
    /** Metadata key of the step count. */
    public static final String KEY_STEP = "fusedopt.step";
    /** Metadata key of the skipped-step count. */
    public static final String KEY_SKIPPED = "fusedopt.skipped";
    /** Metadata key of the tensor list. */
    public static final String KEY_TENSORS = "fusedopt.tensors";
    /** Metadata key of the slot names. */
    public static final String KEY_SLOTS = "fusedopt.slots";
    /** Metadata key of the per-tensor state width. */
    public static final String KEY_TENSOR_STATE_WIDTH = "fusedopt.tensor_state_width";
    /** Metadata key of the checksums. */
    public static final String KEY_CHECKSUMS = "fusedopt.checksums";

    /** Safetensors refuses larger headers; so do we, so that a corrupt length cannot ask for gigabytes. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    /** Floats per slice when streaming a tensor (4 MiB). */
    static final int DEFAULT_SLICE_ELEMENTS = 1 << 20;
    // Fixed width, so the header written with placeholders before the data has the length of the final one.
    private static final String PLACEHOLDER_CRC = "00000000";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Checkpoint() {
    }

    /**
     * One entry (tensor) of a checkpoint file, as {@link #inspect} reports it.
     *
     * @param name the entry name, {@code <tensor>.<slot>} or {@value #TENSOR_STATE}
     * @param dtype {@code F32} or {@code F64}
     * @param shape the entry's shape
     * @param begin the first data byte, relative to the end of the header
     * @param end the data byte after the last
     * @param storedChecksum the CRC32C the header records, 8 lowercase hex digits
     * @param computedChecksum the CRC32C of the bytes in the file
     */
    public record Entry(String name, String dtype, List<Long> shape, long begin, long end, String storedChecksum,
            String computedChecksum) {
        /** Whether the entry's bytes have the checksum the header records. */
        public boolean checksumOk() {
            return storedChecksum.equals(computedChecksum);
        }
    }

    /**
     * A tensor of the store the checkpoint was saved from.
     *
     * @param name the tensor name
     * @param shape the tensor shape
     */
    public record TensorInfo(String name, List<Long> shape) {
    }

    /**
     * What {@link #inspect} found.
     *
     * @param file the file inspected
     * @param formatVersion the format version ({@link #FORMAT_VERSION})
     * @param step the step count when saved
     * @param skippedSteps the skipped-step count when saved
     * @param optimizer the optimizer description, as {@link OptimizerSpec#describe} gave it
     * @param tensors the tensors of the store, in store order
     * @param slots the state slot names
     * @param tensorStateWidth doubles of per-tensor state per tensor (0 when the rule keeps none)
     * @param entries every entry in file order, with its checksum status
     */
    public record Info(Path file, int formatVersion, long step, long skippedSteps, Map<String, Object> optimizer,
            List<TensorInfo> tensors, List<String> slots, int tensorStateWidth, List<Entry> entries) {
        /** The entries whose checksum does not match; empty for an intact file. */
        public List<Entry> mismatches() {
            return entries.stream().filter(e -> !e.checksumOk()).toList();
        }
    }

    // ------------------------------------------------------------------------------------------------ saving

    /** See {@link Optimizer#saveState}. */
    static void save(Optimizer opt, Path file) {
        save(opt, file, DEFAULT_SLICE_ELEMENTS, () -> { });
    }

    /**
     * Writes {@code opt}'s state to {@code file}, streaming {@code sliceElements} floats at a time, and runs
     * {@code beforeMove} after the temporary file is complete and forced, before the rename (tests use it to fail
     * at the last moment).
     */
    static void save(Optimizer opt, Path file, int sliceElements, Runnable beforeMove) {
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
        byte[] header = header(plan, metadata(opt, width, placeholders));
        long dataStart = 8L + header.length;

        Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + ".tmp");
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
                            java.util.Arrays.fill(floats, 0, n, 0f);
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
            byte[] finalHeader = header(plan, metadata(opt, width, checksums));
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
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot write: " + ioProblem(e), e);
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

    private static Map<String, String> metadata(Optimizer opt, int width, Map<String, String> checksums) {
        try {
            Map<String, String> m = new LinkedHashMap<>();
            m.put(KEY_FORMAT, Integer.toString(FORMAT_VERSION));
            m.put(KEY_OPTIMIZER, JSON.writeValueAsString(OptimizerSpec.describe(opt)));
            m.put(KEY_STEP, Long.toString(opt.stepCount()));
            m.put(KEY_SKIPPED, Long.toString(opt.skippedSteps()));
            ArrayNode tensors = JSON.createArrayNode();
            for (Tensor t : opt.store().tensors()) {
                ObjectNode o = tensors.addObject();
                o.put("name", t.name());
                ArrayNode shape = o.putArray("shape");
                for (long d : t.shape()) {
                    shape.add(d);
                }
            }
            m.put(KEY_TENSORS, JSON.writeValueAsString(tensors));
            m.put(KEY_SLOTS, JSON.writeValueAsString(opt.slotNames()));
            m.put(KEY_TENSOR_STATE_WIDTH, Integer.toString(width));
            m.put(KEY_CHECKSUMS, JSON.writeValueAsString(checksums));
            return m;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode the optimizer description: " + e.getOriginalMessage(), e);
        }
    }

    private static byte[] header(List<Planned> plan, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode meta = root.putObject(METADATA);
        metadata.forEach(meta::put);
        for (Planned p : plan) {
            ObjectNode e = root.putObject(p.name);
            e.put("dtype", p.dtype);
            ArrayNode shape = e.putArray("shape");
            for (long d : p.shape) {
                shape.add(d);
            }
            e.putArray("data_offsets").add(p.begin).add(p.end);
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode a checkpoint header: " + e.getOriginalMessage(), e);
        }
        // Spaces, as safetensors pads, so that the data after the 8-byte length and the header is 8-byte aligned.
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        java.util.Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            pos += ch.write(buf, pos);
        }
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

    /** See {@link Optimizer#loadState}. */
    static void load(Optimizer opt, Path file) {
        load(opt, file, DEFAULT_SLICE_ELEMENTS, defaultMemoryLimit());
    }

    /** The largest data section {@link #load} reads into memory before applying it. */
    static long defaultMemoryLimit() {
        return Math.min(Runtime.getRuntime().maxMemory() / 4, 1L << 30);
    }

    /**
     * Loads {@code file} into {@code opt}, streaming {@code sliceElements} floats at a time, holding the data in
     * memory when it is at most {@code memoryLimit} bytes.
     */
    static void load(Optimizer opt, Path file, int sliceElements, long memoryLimit) {
        Objects.requireNonNull(opt, "optimizer must not be null");
        Objects.requireNonNull(file, "file must not be null");
        if (sliceElements < 1) {
            throw new IllegalArgumentException("sliceElements must be >= 1, got " + sliceElements);
        }
        if (opt.store().isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        try (FileChannel ch = open(file)) {
            Parsed p = parse(file, ch);
            Matched m = match(file, p, opt);
            boolean inMemory = p.dataLength <= Math.min(memoryLimit, Integer.MAX_VALUE - 8L);
            Data data;
            if (inMemory) {
                ByteBuffer all = ByteBuffer.allocate((int) p.dataLength);
                readFully(ch, all, p.dataStart);
                data = new MemoryData(all.array());
            } else {
                data = new ChannelData(ch, p.dataStart);
            }
            ByteBuffer buf = ByteBuffer.allocateDirect(sliceElements * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            List<String> bad = new ArrayList<>();
            for (Parsed.Item e : p.entries) {
                String crc = crc(data, e.begin, e.end, buf);
                if (!crc.equals(p.checksums.get(e.name))) {
                    bad.add("'" + e.name + "' (recorded " + p.checksums.get(e.name) + ", computed " + crc + ")");
                }
            }
            if (!bad.isEmpty()) {
                throw new CheckpointException(file, "checksum mismatch in " + bad.size() + " of " + p.entries.size()
                        + " entries, first " + bad.get(0) + ": the file is corrupt");
            }
            double[] tensorState = readTensorState(p, m, data, opt);
            // Everything is verified: from here on the optimizer changes.
            opt.synchronize();
            float[] floats = new float[sliceElements];
            for (Parsed.Item e : p.entries) {
                if (e.name.equals(TENSOR_STATE)) {
                    continue;
                }
                CRC32C recheck = inMemory ? null : new CRC32C();
                long len = (e.end - e.begin) / Float.BYTES;
                for (long at = 0; at < len; ) {
                    int n = (int) Math.min(sliceElements, len - at);
                    buf.clear().limit(n * Float.BYTES);
                    data.read(e.begin + at * Float.BYTES, buf);
                    buf.flip();
                    if (recheck != null) {
                        recheck.update(buf.duplicate());
                    }
                    buf.asFloatBuffer().get(floats, 0, n);
                    opt.writeState(e.tensor, e.slot, at, floats, 0, n);
                    at += n;
                }
                if (recheck != null && !hex(recheck).equals(p.checksums.get(e.name))) {
                    throw new CheckpointException(file, "changed while it was being loaded (entry '" + e.name
                            + "' no longer matches its checksum); the optimizer's state is now partly overwritten:"
                            + " load an intact checkpoint again");
                }
            }
            opt.restoreCounters(p.step, p.skipped, tensorState);
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + ioProblem(e), e);
        }
    }

    private static double[] readTensorState(Parsed p, Matched m, Data data, Optimizer opt) throws IOException {
        int width = opt.rule().tensorStateWidth();
        int count = opt.store().tensors().size();
        double[] out = new double[count * width];
        if (width == 0) {
            return out;
        }
        Parsed.Item e = p.item(TENSOR_STATE);
        ByteBuffer b = ByteBuffer.allocate((int) (e.end - e.begin)).order(ByteOrder.LITTLE_ENDIAN);
        data.read(e.begin, b);
        b.flip();
        double[] stored = new double[(int) ((e.end - e.begin) / Double.BYTES)];
        b.asDoubleBuffer().get(stored);
        // Rows are in the saved store's order; the loading store may list the same tensors in another order.
        for (int i = 0; i < p.tensors.size(); i++) {
            int to = m.liveIndex.get(p.tensors.get(i).name());
            System.arraycopy(stored, i * width, out, to * width, width);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ inspecting

    /**
     * Reads and checks the layout and metadata of a checkpoint and computes every entry's checksum, without an
     * optimizer. A checksum mismatch is reported in {@link Info#mismatches()}, not thrown.
     *
     * @param file the checkpoint; not null
     * @return what the file holds, with every entry's checksum status
     * @throws CheckpointException naming the file and the problem when the file cannot be read, is truncated, is
     *     not a safetensors file, has invalid JSON or an unknown format version, or is inconsistent (entries that
     *     do not match the recorded tensors, slots or checksums)
     */
    public static Info inspect(Path file) {
        Objects.requireNonNull(file, "file must not be null");
        try (FileChannel ch = open(file)) {
            Parsed p = parse(file, ch);
            Data data = new ChannelData(ch, p.dataStart);
            ByteBuffer buf = ByteBuffer.allocateDirect(DEFAULT_SLICE_ELEMENTS * Float.BYTES);
            List<Entry> entries = new ArrayList<>();
            for (Parsed.Item e : p.entries) {
                entries.add(new Entry(e.name, e.dtype, e.shape, e.begin, e.end, p.checksums.get(e.name),
                        crc(data, e.begin, e.end, buf)));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> optimizer = Collections.unmodifiableMap(JSON.convertValue(p.optimizer, Map.class));
            return new Info(file, p.format, p.step, p.skipped, optimizer, List.copyOf(p.tensors), List.copyOf(p.slots),
                    p.width, List.copyOf(entries));
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + ioProblem(e), e);
        }
    }

    // ------------------------------------------------------------------------------------------------ parsing

    private static FileChannel open(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new CheckpointException(file, "is a directory, not a checkpoint file");
        }
        return FileChannel.open(file, StandardOpenOption.READ);
    }

    /** A header that passed every check that needs no optimizer. */
    private static final class Parsed {
        record Item(String name, String dtype, List<Long> shape, long begin, long end, String tensor, String slot) {
        }

        long dataStart;
        long dataLength;
        int format;
        long step;
        long skipped;
        JsonNode optimizer;
        List<TensorInfo> tensors;
        List<String> slots;
        int width;
        Map<String, String> checksums;
        List<Item> entries;

        Item item(String name) {
            for (Item e : entries) {
                if (e.name.equals(name)) {
                    return e;
                }
            }
            throw new IllegalStateException("no entry " + name);
        }
    }

    private static Parsed parse(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size == 0) {
            throw new CheckpointException(file, "is empty, not a checkpoint");
        }
        if (size < 8) {
            throw new CheckpointException(file, "is " + size + " bytes, too short for the 8-byte header length of"
                    + " a safetensors file (truncated?)");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0);
        long n = lenBuf.getLong(0);
        if (n < 0 || n > size - 8) {
            throw new CheckpointException(file, "header length " + Long.toUnsignedString(n) + " exceeds the file's "
                    + (size - 8) + " bytes after the length field (truncated, or not a safetensors file)");
        }
        if (n > MAX_HEADER_BYTES) {
            throw new CheckpointException(file, "header length " + n + " is over the " + MAX_HEADER_BYTES
                    + "-byte limit of safetensors");
        }
        if (n < 2) {
            throw new CheckpointException(file, "header length " + n + " is too short for a JSON object");
        }
        ByteBuffer headBuf = ByteBuffer.allocate((int) n);
        readFully(ch, headBuf, 8);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(headBuf.flip()).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file, "header is not valid UTF-8 (corrupt, or not a safetensors file)");
        }
        JsonNode root = json(file, "header", text);
        if (!root.isObject()) {
            throw new CheckpointException(file, "header must be a JSON object, got " + kind(root));
        }
        Parsed p = new Parsed();
        p.dataStart = 8 + n;
        p.dataLength = size - 8 - n;
        Map<String, String> meta = metadata(file, root.get(METADATA));
        p.format = format(file, meta);
        List<Parsed.Item> raw = entries(file, root);
        checkLayout(file, raw, p.dataLength);

        p.step = count(file, meta, KEY_STEP);
        p.skipped = count(file, meta, KEY_SKIPPED);
        p.optimizer = json(file, METADATA + "." + KEY_OPTIMIZER, required(file, meta, KEY_OPTIMIZER));
        checkDescription(file, p.optimizer);
        p.tensors = tensors(file, json(file, METADATA + "." + KEY_TENSORS, required(file, meta, KEY_TENSORS)));
        p.slots = slots(file, json(file, METADATA + "." + KEY_SLOTS, required(file, meta, KEY_SLOTS)));
        long width = count(file, meta, KEY_TENSOR_STATE_WIDTH);
        if (width > 64) {
            throw new CheckpointException(file, METADATA + "." + KEY_TENSOR_STATE_WIDTH + " is " + width
                    + ", more than any rule keeps");
        }
        p.width = (int) width;
        p.entries = resolve(file, raw, p);
        p.checksums = checksums(file, json(file, METADATA + "." + KEY_CHECKSUMS, required(file, meta, KEY_CHECKSUMS)),
                p.entries);
        return p;
    }

    private static JsonNode json(Path file, String what, String text) {
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || n.isMissingNode()) {
                throw new CheckpointException(file, what + " is empty, expected JSON");
            }
            return n;
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr();
            throw new CheckpointException(file, what + " is not valid JSON: " + e.getOriginalMessage() + where, e);
        }
    }

    private static Map<String, String> metadata(Path file, JsonNode meta) {
        if (meta == null) {
            throw new CheckpointException(file, "header has no " + METADATA + ": not a fusedopt checkpoint");
        }
        if (!meta.isObject()) {
            throw new CheckpointException(file, METADATA + " must be an object, got " + kind(meta));
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : meta.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(file, METADATA + "." + e.getKey() + " must be a string (safetensors"
                        + " metadata holds only strings), got " + kind(e.getValue()));
            }
            m.put(e.getKey(), e.getValue().asText());
        }
        return m;
    }

    private static int format(Path file, Map<String, String> meta) {
        String v = meta.get(KEY_FORMAT);
        if (v == null) {
            throw new CheckpointException(file, METADATA + " has no " + KEY_FORMAT + ": not a fusedopt checkpoint");
        }
        if (!v.equals(Integer.toString(FORMAT_VERSION))) {
            throw new CheckpointException(file, "format version \"" + abbreviate(v) + "\" is not supported; this"
                    + " fusedopt reads version " + FORMAT_VERSION);
        }
        return FORMAT_VERSION;
    }

    private static String required(Path file, Map<String, String> meta, String key) {
        String v = meta.get(key);
        if (v == null) {
            throw new CheckpointException(file, METADATA + "." + key + " is missing");
        }
        return v;
    }

    private static long count(Path file, Map<String, String> meta, String key) {
        String v = required(file, meta, key);
        if (!v.matches("0|[1-9][0-9]{0,18}")) {
            throw new CheckpointException(file, METADATA + "." + key + " must be a whole number >= 0 in decimal,"
                    + " got \"" + abbreviate(v) + "\"");
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new CheckpointException(file, METADATA + "." + key + " is too large: " + v);
        }
    }

    private static List<Parsed.Item> entries(Path file, JsonNode root) {
        List<Parsed.Item> items = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : root.properties()) {
            String name = f.getKey();
            if (name.equals(METADATA)) {
                continue;
            }
            JsonNode e = f.getValue();
            String at = "entry '" + name + "'";
            if (!e.isObject()) {
                throw new CheckpointException(file, at + " must be an object, got " + kind(e));
            }
            for (Iterator<String> keys = e.fieldNames(); keys.hasNext(); ) {
                String k = keys.next();
                if (!Set.of("dtype", "shape", "data_offsets").contains(k)) {
                    throw new CheckpointException(file, at + " has unknown key \"" + abbreviate(k)
                            + "\"; expected dtype, shape, data_offsets");
                }
            }
            JsonNode dtype = e.get("dtype");
            if (dtype == null || !dtype.isTextual()) {
                throw new CheckpointException(file, at + ".dtype must be a string, got " + kind(dtype));
            }
            int bytes = switch (dtype.asText()) {
                case "F32" -> 4;
                case "F64" -> 8;
                default -> throw new CheckpointException(file, at + ".dtype is \"" + abbreviate(dtype.asText())
                        + "\"; fusedopt checkpoints hold only F32 and F64");
            };
            List<Long> shape = longs(file, e.get("shape"), at + ".shape", -1);
            List<Long> offsets = longs(file, e.get("data_offsets"), at + ".data_offsets", 2);
            long begin = offsets.get(0), end = offsets.get(1);
            if (begin > end) {
                throw new CheckpointException(file, at + ".data_offsets [" + begin + ", " + end + "] end before they"
                        + " begin");
            }
            long need = bytes;
            try {
                for (long d : shape) {
                    need = Math.multiplyExact(need, d);
                }
            } catch (ArithmeticException ex) {
                throw new CheckpointException(file, at + ".shape " + shape + " has too many elements");
            }
            if (need != end - begin) {
                throw new CheckpointException(file, at + ".data_offsets [" + begin + ", " + end + "] span "
                        + (end - begin) + " bytes but shape " + shape + " of " + dtype.asText() + " needs " + need);
            }
            items.add(new Parsed.Item(name, dtype.asText(), shape, begin, end, null, null));
        }
        return items;
    }

    private static List<Long> longs(Path file, JsonNode node, String what, int length) {
        if (node == null || !node.isArray()) {
            throw new CheckpointException(file, what + " must be an array of whole numbers, got " + kind(node));
        }
        if (length >= 0 && node.size() != length) {
            throw new CheckpointException(file, what + " must hold " + length + " numbers, got " + node.size());
        }
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new CheckpointException(file, what + "[" + i + "] must be a whole number >= 0, got "
                        + abbreviate(v.toString()));
            }
            out.add(v.asLong());
        }
        return List.copyOf(out);
    }

    // The rules safetensors enforces: entries tile the data from byte 0 without gaps or overlaps, and the file ends
    // where the last one does.
    private static void checkLayout(Path file, List<Parsed.Item> items, long dataLength) {
        List<Parsed.Item> sorted = new ArrayList<>(items);
        sorted.sort(Comparator.comparingLong(Parsed.Item::begin).thenComparingLong(Parsed.Item::end));
        long expected = 0;
        String previous = null;
        for (Parsed.Item e : sorted) {
            if (e.begin != expected) {
                throw new CheckpointException(file, "entry '" + e.name + "' begins at data byte " + e.begin + " but "
                        + (previous == null ? "the first entry must begin at 0" : "'" + previous + "' ends at " + expected)
                        + " (entries must be contiguous, without gaps or overlaps)");
            }
            expected = e.end;
            previous = e.name;
        }
        if (expected > dataLength) {
            throw new CheckpointException(file, "is truncated: its entries need " + expected + " data bytes after the"
                    + " header, but only " + dataLength + " are present");
        }
        if (expected < dataLength) {
            throw new CheckpointException(file, "has " + (dataLength - expected) + " bytes after its last entry"
                    + " (corrupt, or not written by fusedopt)");
        }
    }

    private static void checkDescription(Path file, JsonNode d) {
        String at = METADATA + "." + KEY_OPTIMIZER;
        if (!d.isObject()) {
            throw new CheckpointException(file, at + " must be a JSON object, got " + kind(d));
        }
        if (d.get("optimizer") == null || !d.get("optimizer").isTextual()) {
            throw new CheckpointException(file, at + ".optimizer must be a string, got " + kind(d.get("optimizer")));
        }
        JsonNode groups = d.get("groups");
        if (groups == null || !groups.isArray() || groups.isEmpty()) {
            throw new CheckpointException(file, at + ".groups must be a non-empty array, got " + kind(groups));
        }
        for (int g = 0; g < groups.size(); g++) {
            JsonNode gr = groups.get(g);
            String gat = at + ".groups[" + g + "]";
            if (!gr.isObject() || gr.get("name") == null || !gr.get("name").isTextual()) {
                throw new CheckpointException(file, gat + ".name must be a string");
            }
            if (gr.get("hyperparams") == null || !gr.get("hyperparams").isObject()) {
                throw new CheckpointException(file, gat + ".hyperparams must be an object, got "
                        + kind(gr.get("hyperparams")));
            }
            JsonNode ts = gr.get("tensors");
            if (ts == null || !ts.isArray()) {
                throw new CheckpointException(file, gat + ".tensors must be an array, got " + kind(ts));
            }
            for (int i = 0; i < ts.size(); i++) {
                if (!ts.get(i).isTextual()) {
                    throw new CheckpointException(file, gat + ".tensors[" + i + "] must be a string, got "
                            + kind(ts.get(i)));
                }
            }
        }
        for (String key : List.of("schedule", "lookahead")) {
            JsonNode v = d.get(key);
            if (v != null && !v.isNull() && !v.isObject()) {
                throw new CheckpointException(file, at + "." + key + " must be an object or null, got " + kind(v));
            }
        }
    }

    private static List<TensorInfo> tensors(Path file, JsonNode node) {
        String at = METADATA + "." + KEY_TENSORS;
        if (!node.isArray() || node.isEmpty()) {
            throw new CheckpointException(file, at + " must be a non-empty array, got " + kind(node));
        }
        List<TensorInfo> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode t = node.get(i);
            String tat = at + "[" + i + "]";
            if (!t.isObject() || t.get("name") == null || !t.get("name").isTextual() || t.get("name").asText().isEmpty()) {
                throw new CheckpointException(file, tat + ".name must be a non-empty string");
            }
            String name = t.get("name").asText();
            if (!seen.add(name)) {
                throw new CheckpointException(file, tat + ".name '" + name + "' appears twice");
            }
            List<Long> shape = longs(file, t.get("shape"), tat + ".shape", -1);
            if (shape.isEmpty() || shape.contains(0L)) {
                throw new CheckpointException(file, tat + ".shape must have dimensions >= 1, got " + shape);
            }
            out.add(new TensorInfo(name, shape));
        }
        return out;
    }

    private static List<String> slots(Path file, JsonNode node) {
        String at = METADATA + "." + KEY_SLOTS;
        if (!node.isArray()) {
            throw new CheckpointException(file, at + " must be an array of names, got " + kind(node));
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode s = node.get(i);
            if (!s.isTextual() || s.asText().isEmpty() || s.asText().contains(".") || out.contains(s.asText())) {
                throw new CheckpointException(file, at + "[" + i + "] must be a distinct non-empty name without"
                        + " dots, got " + abbreviate(s.toString()));
            }
            out.add(s.asText());
        }
        return out;
    }

    /** Checks that the entries are exactly the slots of the listed tensors (plus the tensor state), in shape. */
    private static List<Parsed.Item> resolve(Path file, List<Parsed.Item> raw, Parsed p) {
        Map<String, Parsed.Item> byName = new HashMap<>();
        for (Parsed.Item e : raw) {
            byName.put(e.name, e);
        }
        List<Parsed.Item> out = new ArrayList<>();
        Set<String> expected = new LinkedHashSet<>();
        for (TensorInfo t : p.tensors) {
            for (String s : p.slots) {
                String name = t.name() + "." + s;
                expected.add(name);
                Parsed.Item e = byName.get(name);
                if (e == null) {
                    throw new CheckpointException(file, "has no entry '" + name + "' (slot '" + s + "' of tensor '"
                            + t.name() + "')");
                }
                if (!e.dtype.equals("F32") || !e.shape.equals(t.shape())) {
                    throw new CheckpointException(file, "entry '" + name + "' is " + e.dtype + " " + e.shape
                            + " but tensor '" + t.name() + "' is F32 " + t.shape());
                }
                out.add(new Parsed.Item(name, e.dtype, e.shape, e.begin, e.end, t.name(), s));
            }
        }
        if (p.width > 0) {
            expected.add(TENSOR_STATE);
            Parsed.Item e = byName.get(TENSOR_STATE);
            List<Long> shape = List.of((long) p.tensors.size(), (long) p.width);
            if (e == null) {
                throw new CheckpointException(file, "has no entry '" + TENSOR_STATE + "' although "
                        + KEY_TENSOR_STATE_WIDTH + " is " + p.width);
            }
            if (!e.dtype.equals("F64") || !e.shape.equals(shape)) {
                throw new CheckpointException(file, "entry '" + TENSOR_STATE + "' is " + e.dtype + " " + e.shape
                        + " but must be F64 " + shape);
            }
            out.add(e);
        }
        for (Parsed.Item e : raw) {
            if (!expected.contains(e.name)) {
                throw new CheckpointException(file, "has entry '" + e.name + "', which is no slot of a tensor in "
                        + KEY_TENSORS + " (slots " + p.slots + ")");
            }
        }
        out.sort(Comparator.comparingLong(Parsed.Item::begin));
        return out;
    }

    private static Map<String, String> checksums(Path file, JsonNode node, List<Parsed.Item> entries) {
        String at = METADATA + "." + KEY_CHECKSUMS;
        if (!node.isObject()) {
            throw new CheckpointException(file, at + " must be an object, got " + kind(node));
        }
        Map<String, String> out = new HashMap<>();
        for (Map.Entry<String, JsonNode> f : node.properties()) {
            JsonNode v = f.getValue();
            if (!v.isTextual() || !v.asText().matches("[0-9a-f]{8}")) {
                throw new CheckpointException(file, at + "." + f.getKey() + " must be 8 lowercase hex digits, got "
                        + abbreviate(v.toString()));
            }
            out.put(f.getKey(), v.asText());
        }
        Set<String> names = new LinkedHashSet<>();
        for (Parsed.Item e : entries) {
            names.add(e.name);
            if (!out.containsKey(e.name)) {
                throw new CheckpointException(file, at + " has no checksum for entry '" + e.name + "'");
            }
        }
        for (String k : new TreeSet<>(out.keySet())) {
            if (!names.contains(k)) {
                throw new CheckpointException(file, at + " names '" + k + "', which is not an entry of the file");
            }
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ matching

    /** The loading store's tensor index of each checkpoint tensor name. */
    private record Matched(Map<String, Integer> liveIndex) {
    }

    private static Matched match(Path file, Parsed p, Optimizer opt) {
        List<String> problems = new ArrayList<>();
        JsonNode stored = p.optimizer;
        JsonNode live;
        try {
            live = JSON.readTree(JSON.writeValueAsString(OptimizerSpec.describe(opt)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode the optimizer description", e);
        }
        String sId = stored.get("optimizer").asText(), lId = live.get("optimizer").asText();
        if (!sId.equals(lId)) {
            problems.add("optimizer is '" + sId + "' in the checkpoint but '" + lId + "' here");
        }
        if (!same(stored.get("lookahead"), live.get("lookahead"))) {
            problems.add("Lookahead is " + render(stored.get("lookahead")) + " in the checkpoint but "
                    + render(live.get("lookahead")) + " here");
        }

        Map<String, Integer> liveIndex = new HashMap<>();
        Map<String, List<Long>> liveShapes = new LinkedHashMap<>();
        for (Tensor t : opt.store().tensors()) {
            liveIndex.put(t.name(), t.index());
            List<Long> shape = new ArrayList<>();
            for (long d : t.shape()) {
                shape.add(d);
            }
            liveShapes.put(t.name(), shape);
        }
        Map<String, List<Long>> storedShapes = new LinkedHashMap<>();
        for (TensorInfo t : p.tensors) {
            storedShapes.put(t.name(), t.shape());
        }
        List<String> missing = new ArrayList<>(), extra = new ArrayList<>();
        for (String n : liveShapes.keySet()) {
            if (!storedShapes.containsKey(n)) {
                missing.add(n);
            }
        }
        for (String n : storedShapes.keySet()) {
            if (!liveShapes.containsKey(n)) {
                extra.add(n);
            } else if (!storedShapes.get(n).equals(liveShapes.get(n))) {
                problems.add("tensor '" + n + "' has shape " + storedShapes.get(n) + " in the checkpoint but "
                        + liveShapes.get(n) + " in the store");
            }
        }
        if (!missing.isEmpty()) {
            problems.add("missing tensor(s) " + missing + ": in the store but not in the checkpoint");
        }
        if (!extra.isEmpty()) {
            problems.add("extra tensor(s) " + extra + ": in the checkpoint but not in the store");
        }

        JsonNode sg = stored.get("groups"), lg = live.get("groups");
        List<String> sNames = groupNames(sg), lNames = groupNames(lg);
        if (!sNames.equals(lNames)) {
            problems.add("parameter groups are " + sNames + " in the checkpoint but " + lNames + " here");
        } else {
            for (int g = 0; g < sNames.size(); g++) {
                String name = sNames.get(g);
                Set<String> st = new TreeSet<>(), lt = new TreeSet<>();
                sg.get(g).get("tensors").forEach(n -> st.add(n.asText()));
                lg.get(g).get("tensors").forEach(n -> lt.add(n.asText()));
                if (!st.equals(lt) && missing.isEmpty() && extra.isEmpty()) {
                    problems.add("group '" + name + "' holds tensors " + st + " in the checkpoint but " + lt + " here");
                }
                JsonNode sh = sg.get(g).get("hyperparams"), lh = lg.get(g).get("hyperparams");
                Set<String> keys = new TreeSet<>();
                sh.fieldNames().forEachRemaining(keys::add);
                lh.fieldNames().forEachRemaining(keys::add);
                for (String k : keys) {
                    if (!same(sh.get(k), lh.get(k))) {
                        problems.add("group '" + name + "' hyperparameter " + k + " is " + render(sh.get(k))
                                + " in the checkpoint but " + render(lh.get(k)) + " here");
                    }
                }
            }
        }
        if (!same(stored.get("schedule"), live.get("schedule"))) {
            problems.add("schedule is " + render(stored.get("schedule")) + " in the checkpoint but "
                    + render(live.get("schedule")) + " here");
        }
        if (problems.isEmpty() && !p.slots.equals(opt.slotNames())) {
            problems.add("state slots are " + p.slots + " in the checkpoint but " + opt.slotNames() + " here");
        }
        if (problems.isEmpty() && p.width != opt.rule().tensorStateWidth()) {
            problems.add("per-tensor state has width " + p.width + " in the checkpoint but "
                    + opt.rule().tensorStateWidth() + " here");
        }
        if (!problems.isEmpty()) {
            throw new CheckpointException(file, "does not match this optimizer: "
                    + String.join("; ", problems));
        }
        return new Matched(liveIndex);
    }

    private static List<String> groupNames(JsonNode groups) {
        List<String> names = new ArrayList<>();
        groups.forEach(g -> names.add(g.get("name").asText()));
        return names;
    }

    /** JSON equality where numbers compare by value ({@code 1} equals {@code 1.0}) and null equals absent. */
    private static boolean same(JsonNode a, JsonNode b) {
        boolean aNull = a == null || a.isNull() || a.isMissingNode();
        boolean bNull = b == null || b.isNull() || b.isMissingNode();
        if (aNull || bNull) {
            return aNull == bNull;
        }
        if (a.isNumber() && b.isNumber()) {
            return a.decimalValue().compareTo(b.decimalValue()) == 0;
        }
        if (a.isArray() && b.isArray()) {
            if (a.size() != b.size()) {
                return false;
            }
            for (int i = 0; i < a.size(); i++) {
                if (!same(a.get(i), b.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a.isObject() && b.isObject()) {
            Set<String> keys = new TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                if (!same(a.get(k), b.get(k))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    private static String render(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? "none" : abbreviate(n.toString());
    }

    // ------------------------------------------------------------------------------------------------ data

    /** The data section of an open checkpoint: held in memory, or read from the file on demand. */
    private interface Data {
        /** Fills {@code dst}'s remaining bytes from data offset {@code offset}. */
        void read(long offset, ByteBuffer dst) throws IOException;
    }

    private record MemoryData(byte[] bytes) implements Data {
        @Override
        public void read(long offset, ByteBuffer dst) {
            dst.put(bytes, (int) offset, dst.remaining());
        }
    }

    private record ChannelData(FileChannel ch, long dataStart) implements Data {
        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            readFully(ch, dst, dataStart + offset);
        }
    }

    private static String crc(Data data, long begin, long end, ByteBuffer buf) throws IOException {
        CRC32C crc = new CRC32C();
        for (long at = begin; at < end; ) {
            int n = (int) Math.min(buf.capacity(), end - at);
            buf.clear().limit(n);
            data.read(at, buf);
            buf.flip();
            crc.update(buf);
            at += n;
        }
        return hex(crc);
    }

    private static String hex(CRC32C crc) {
        return String.format(Locale.ROOT, "%08x", crc.getValue());
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int r = ch.read(dst, pos);
            if (r < 0) {
                throw new EOFException("the file ended at byte " + pos + " (it shrank while being read)");
            }
            pos += r;
        }
    }

    // ------------------------------------------------------------------------------------------------ messages

    private static String ioProblem(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static String kind(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "nothing";
        }
        return n.getNodeType().name().toLowerCase(Locale.ROOT) + " " + abbreviate(n.toString());
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }

}
