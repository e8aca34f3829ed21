package io.fusedopt;

import io.fusedopt.checkpoint.Streaming;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

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
 * (Lookahead's {@code slow}, then the {@code master} weights, last), contiguous from byte 0. Each entry is in its
 * buffer's own dtype ({@link Optimizer#slotDtype}: {@code F32}, {@code BF16} or {@code F16}); loading refuses an
 * entry whose dtype differs from the optimizer's buffer, naming the tensor, the slot and both dtypes. A rule with per-tensor state (SWATS's λ, Λ, phase
 * and SGD coefficient; LAMB's trust ratio) adds {@value #TENSOR_STATE}, an {@code F64} tensor of shape
 * {@code [tensors, width]}, last. Lookahead's slow weights are set by the first step, so a checkpoint saved before
 * it holds zeros for them. The header's {@value #METADATA} object holds only strings, as safetensors
 * requires:
 * <ul>
 *   <li>{@value #KEY_FORMAT}: the format version, {@code "2"};</li>
 *   <li>{@value #KEY_OPTIMIZER}: the JSON of {@link OptimizerSpec#describe} (rule, hyperparameters of every group
 *       with its tensors, schedule, Lookahead, non-finite policy);</li>
 *   <li>{@value #KEY_STEP} and {@value #KEY_SKIPPED}: the step count and the skipped-step count, in decimal;</li>
 *   <li>{@value #KEY_TENSORS}: JSON {@code [{"name": ..., "shape": [...]}, ...]} in store order;</li>
 *   <li>{@value #KEY_SLOTS}: JSON list of the slot names; {@value #KEY_TENSOR_STATE_WIDTH}: the width, in
 *       decimal;</li>
 *   <li>{@value #KEY_CHECKSUMS}: JSON {@code {"<entry>": "<crc32c, 8 lowercase hex digits>"}} of every entry's
 *       bytes;</li>
 *   <li>{@value #KEY_HEADER_CHECKSUM}: the CRC32C of every other {@code fusedopt.*} field and the entry table, in
 *       a canonical form: each string as its UTF-8 length (8 bytes, little-endian) and its bytes, each number as 8
 *       bytes little-endian; the {@code fusedopt.*} keys in ascending order, each key then its value; then for
 *       every entry in data order its name, dtype, rank, dimensions and two data offsets.</li>
 * </ul>
 * Every JSON object is written with its keys sorted, so the same state gives the same bytes in every JVM run.
 * Format 1 is format 2 without {@value #KEY_HEADER_CHECKSUM}; it is still read, with its metadata unverified
 * ({@link Info#headerChecksum()} is null).
 * Parameters are not in a checkpoint: they live in the {@link ParameterStore}, which the caller saves and
 * restores (a model's weights usually have their own file).
 *
 * <h2>Guarantees</h2>
 * <ul>
 *   <li>Saving is atomic: the file is written under a temporary name in the same directory
 *       ({@code .<name>.fusedopt-<pid>-<start>-<random>.tmp}), forced to disk, then renamed over the target. On
 *       any failure the temporary file is deleted and an earlier checkpoint at the path is intact. A save killed
 *       outright leaves its temporary file; the next save to the same path removes those it can prove are such
 *       leftovers (a regular file of exactly that name form, owned by the same user, whose writing process no
 *       longer runs), and nothing else.</li>
 *   <li>Loading checks everything before changing anything: that the file is a regular file (a pipe or device is
 *       refused unread), the layout, a header of at most 16 MiB, the JSON, the format version, the header
 *       checksum, every entry's checksum, and that the checkpoint's rule, Lookahead, groups (names, tensors,
 *       hyperparameters), schedule, tensors (names and shapes) and slots equal the loading optimizer's. The
 *       non-finite policy may differ: it only decides what happens to a future non-finite gradient. Any problem
 *       with the file is a {@link CheckpointException} naming the file and the problem, and the optimizer is
 *       unchanged (a device failure while the verified state is being written is a {@link io.fusedopt.core.CudaException}, after
 *       which the optimizer should be rebuilt, as after any device failure). Data up to a memory limit (a
 *       quarter of the heap, at most 1 GiB) is read and verified in memory, then applied; larger data is verified
 *       in one pass over the open file and applied in a second pass with uninterruptible reads that checks the
 *       checksums again, keeping the state it replaces in an undo file in {@code java.io.tmpdir}: a file changed
 *       in place during the load, or a read error, is reported after that state is put back. Interrupting the
 *       loading thread stops the load before anything has changed, or not at all; the interrupt stays set.</li>
 *   <li>Checkpoints are portable between backends: saving on CUDA and loading on the CPU (or the reverse) and
 *       continuing gives the same bits as never having stopped.</li>
 *   <li>Tensors of 2^31 elements and more are streamed in slices; nothing holds a whole tensor in one array.</li>
 * </ul>
 */
public final class Checkpoint {
    /** The format version this class writes; it reads this one and version 1 (see the class comment). */
    public static final int FORMAT_VERSION = 2;
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
    /** Metadata key of the checksum of the other {@code fusedopt.*} keys and the entry table (format 2). */
    public static final String KEY_HEADER_CHECKSUM = "fusedopt.header_checksum";

    /** Floats per slice when streaming a tensor (4 MiB). */
    static final int DEFAULT_SLICE_ELEMENTS = Streaming.DEFAULT_SLICE_ELEMENTS;

    private Checkpoint() {
    }

    /**
     * One entry (tensor) of a checkpoint file, as {@link #inspect} reports it.
     *
     * @param name the entry name, {@code <tensor>.<slot>} or {@value #TENSOR_STATE}
     * @param dtype {@code F32}, {@code BF16}, {@code F16} or {@code F64}
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
     * @param formatVersion the format version of the file, 1 or {@link #FORMAT_VERSION}
     * @param step the step count when saved
     * @param skippedSteps the skipped-step count when saved
     * @param optimizer the optimizer description, as {@link OptimizerSpec#describe} gave it
     * @param tensors the tensors of the store, in store order
     * @param slots the state slot names
     * @param tensorStateWidth doubles of per-tensor state per tensor (0 when the rule keeps none)
     * @param entries every entry in file order, with its checksum status
     * @param headerChecksum the verified header checksum, 8 lowercase hex digits; null for a format-1 file, whose
     *     header no checksum covers
     */
    public record Info(Path file, int formatVersion, long step, long skippedSteps, Map<String, Object> optimizer,
            List<TensorInfo> tensors, List<String> slots, int tensorStateWidth, List<Entry> entries,
            String headerChecksum) {
        /** The entries whose checksum does not match; empty for an intact file. */
        public List<Entry> mismatches() {
            return entries.stream().filter(e -> !e.checksumOk()).toList();
        }
    }

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
        Streaming.save(opt, file, sliceElements, beforeMove);
    }

    /** See {@link Optimizer#loadState}. */
    static void load(Optimizer opt, Path file) {
        load(opt, file, DEFAULT_SLICE_ELEMENTS, Streaming.defaultMemoryLimit());
    }

    /**
     * Loads {@code file} into {@code opt}, streaming {@code sliceElements} floats at a time, holding the data in
     * memory when it is at most {@code memoryLimit} bytes.
     */
    static void load(Optimizer opt, Path file, int sliceElements, long memoryLimit) {
        Streaming.load(opt, file, sliceElements, memoryLimit, opt::restoreCounters);
    }

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
        return Streaming.inspect(file);
    }
}
