package io.fusedopt.checkpoint;

import io.fusedopt.Optimizer;
import io.fusedopt.checkpoint.Safetensors.Item;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The state a streamed load overwrites, kept in a temporary file that only the current user can read, so that a
 * load failing halfway through its apply pass (the file changed in place, a read error) can put back exactly what
 * was there. Plain file reads and writes: an interrupt cannot stop them. The file is deleted on close.
 */
final class UndoLog implements AutoCloseable {
    private final Path path;
    private final RandomAccessFile file;
    private final Map<Item, Long> saved = new LinkedHashMap<>();

    private UndoLog(Path path, RandomAccessFile file) {
        this.path = path;
        this.file = file;
    }

    /** A new, empty log in {@code java.io.tmpdir}. */
    static UndoLog create() throws IOException {
        Path p = Files.createTempFile("fusedopt-undo-", ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try {
            return new UndoLog(p, new RandomAccessFile(p.toFile(), "rw"));
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(p);
            throw e;
        }
    }

    /**
     * Keeps elements {@code [at, at + n)} of entry {@code e}'s slot as they are now, before they are overwritten;
     * {@code floats} and {@code buf} (heap, little-endian, at least {@code 4n} bytes) are scratch.
     */
    void keep(Optimizer opt, Item e, long at, int n, float[] floats, ByteBuffer buf) throws IOException {
        opt.readState(e.tensor(), e.slot(), at, floats, 0, n);
        buf.clear();
        buf.asFloatBuffer().put(floats, 0, n);
        file.seek(undoOffset(e, at));
        file.write(buf.array(), buf.arrayOffset(), n * Float.BYTES);
        saved.merge(e, at + n, Math::max);
    }

    /**
     * Where element {@code at} of entry {@code e} is kept: the log holds every element as 4 bytes, and an entry
     * holds at least 2 per element, so twice the entry's offset in the checkpoint leaves room for each.
     */
    private static long undoOffset(Item e, long at) {
        return 2 * e.begin() + at * Float.BYTES;
    }

    /** Writes back everything kept, in slices of {@code floats.length}. */
    void restore(Optimizer opt, float[] floats, ByteBuffer buf) throws IOException {
        for (Map.Entry<Item, Long> s : saved.entrySet()) {
            Item e = s.getKey();
            for (long at = 0; at < s.getValue(); ) {
                int n = (int) Math.min(floats.length, s.getValue() - at);
                file.seek(undoOffset(e, at));
                file.readFully(buf.array(), buf.arrayOffset(), n * Float.BYTES);
                buf.clear().limit(n * Float.BYTES);
                buf.asFloatBuffer().get(floats, 0, n);
                opt.writeState(e.tensor(), e.slot(), at, floats, 0, n);
                at += n;
            }
        }
    }

    @Override
    public void close() throws IOException {
        try {
            file.close();
        } finally {
            Files.deleteIfExists(path);
        }
    }
}
