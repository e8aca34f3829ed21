package io.fusedopt.checkpoint;

import static io.fusedopt.Checkpoint.TENSOR_STATE;
import static io.fusedopt.checkpoint.Safetensors.hex;
import static io.fusedopt.checkpoint.Safetensors.writeFully;

import io.fusedopt.CheckpointException;
import io.fusedopt.Optimizer;
import io.fusedopt.core.Tensor;
import io.fusedopt.checkpoint.Safetensors.Item;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Writes a checkpoint atomically: the data streamed in slices into a temporary file beside the target (named by
 * {@link TempFiles}), the header with the checksums written last, the file forced to disk and renamed over the
 * target, and the directory forced. On failure the temporary file is deleted; after success, leftovers of killed
 * saves to the same target are removed.
 */
final class Saver {
    // Fixed width, so the header written with placeholders before the data has the length of the final one.
    private static final String PLACEHOLDER_CRC = "00000000";

    private Saver() {
    }

    /**
     * Writes {@code opt}'s state to {@code file}, streaming {@code sliceElements} floats at a time, and runs
     * {@code beforeMove} after the temporary file is complete and forced, before the rename (tests use it to fail
     * at the last moment).
     *
     * @throws IllegalArgumentException when {@code sliceElements} is below 1
     * @throws IllegalStateException when the optimizer's store is closed
     * @throws CheckpointException naming the file when it cannot be written
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
        List<Planned> plan = plan(tensors, slots, width, opt);
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
                    // Each buffer in its own dtype: a 16-bit value widens exactly and rounds back to itself.
                    io.fusedopt.core.Dtype d = io.fusedopt.core.Dtype.ofSafetensors(p.dtype);
                    // A shaped slot (Adafactor's factored v) has its own length, given by its entry.
                    long length = (p.end - p.begin) / d.bytes();
                    for (long at = 0; at < length; ) {
                        int n = (int) Math.min(sliceElements, length - at);
                        if (zeros) {
                            Arrays.fill(floats, 0, n, 0f);
                        } else {
                            opt.readState(p.tensor.name(), p.slot, at, floats, 0, n);
                        }
                        buf.clear();
                        if (d.isHalf()) {
                            for (int i = 0; i < n; i++) {
                                buf.putShort(2 * i, d.narrow(floats[i]));
                            }
                        } else {
                            buf.asFloatBuffer().put(floats, 0, n);
                        }
                        buf.limit(n * d.bytes());
                        crc.update(buf.duplicate());
                        writeFully(ch, buf, dataStart + p.begin + at * d.bytes());
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

    /** One entry to write (or of a {@link StateImage}): a slot of a tensor, or the tensor state when tensor is null. */
    record Planned(String name, Tensor tensor, String slot, String dtype, long[] shape, long begin, long end) {
    }

    /** The entries of a checkpoint or state image of {@code opt}, each slot in its own dtype (float32 when {@code opt} is null). */
    static List<Planned> plan(List<Tensor> tensors, List<String> slots, int width, Optimizer opt) {
        List<Planned> plan = new ArrayList<>();
        long off = 0;
        for (Tensor t : tensors) {
            for (String s : slots) {
                io.fusedopt.core.Dtype d = opt == null ? io.fusedopt.core.Dtype.FLOAT32 : opt.slotDtype(s);
                // A shaped slot (Adafactor's factored v) has its own shape; every other slot is the tensor's.
                long[] shape = opt == null ? t.shape() : opt.stateShape(t.name(), s);
                long n = 1;
                for (long x : shape) {
                    n = Math.multiplyExact(n, x);
                }
                long end = Math.addExact(off, Math.multiplyExact(n, (long) d.bytes()));
                plan.add(new Planned(t.name() + "." + s, t, s, d.safetensorsName(), shape, off, end));
                off = end;
            }
        }
        if (width > 0) {
            long end = Math.addExact(off, (long) tensors.size() * width * Double.BYTES);
            plan.add(new Planned(TENSOR_STATE, null, null, "F64", new long[] {tensors.size(), width}, off, end));
        }
        return plan;
    }

    static List<Item> items(List<Planned> plan) {
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
}
