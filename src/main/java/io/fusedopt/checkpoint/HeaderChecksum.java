package io.fusedopt.checkpoint;

import static io.fusedopt.Checkpoint.KEY_HEADER_CHECKSUM;
import static io.fusedopt.Checkpoint.METADATA;
import static io.fusedopt.checkpoint.Json.abbreviate;

import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.checkpoint.Safetensors.Item;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.zip.CRC32C;

/**
 * The checksum of a checkpoint's header (format 2): every {@code fusedopt.*} metadata field and the entry table,
 * so that no corrupt field is interpreted. Its canonical form is written out in {@link #of}, so that other
 * readers can check it too.
 */
final class HeaderChecksum {
    private HeaderChecksum() {
    }

    /**
     * Checks the header checksum of a format-2 file and returns it. Format 1 had none: such a file is read as
     * format 2 without one (its entries are still covered by their checksums), and one that carries the key is
     * refused, since then the version field itself is what is corrupt.
     */
    static String check(Path file, int format, Map<String, String> meta, List<Item> entries) {
        String stored = meta.get(KEY_HEADER_CHECKSUM);
        if (format == 1) {
            if (stored != null) {
                throw new CheckpointException(file, "says format version 1, which has no " + KEY_HEADER_CHECKSUM
                        + ", but carries one: the version field is corrupt");
            }
            return null;
        }
        if (stored == null) {
            throw new CheckpointException(file, METADATA + "." + KEY_HEADER_CHECKSUM + " is missing");
        }
        if (!stored.matches("[0-9a-f]{8}")) {
            throw new CheckpointException(file, METADATA + "." + KEY_HEADER_CHECKSUM
                    + " must be 8 lowercase hex digits, got \"" + abbreviate(stored) + "\"");
        }
        String computed = of(meta, entries);
        if (!computed.equals(stored)) {
            throw new CheckpointException(file, "header checksum mismatch (recorded " + stored + ", computed "
                    + computed + "): the metadata or the entry table is corrupt");
        }
        return stored;
    }

    /**
     * The CRC32C of the canonical form of the header, 8 hex digits. The form is a sequence of strings and numbers,
     * a string written as its UTF-8 length in bytes and then those bytes, a number as 8 bytes little-endian: for
     * every metadata key that starts with {@code fusedopt.} except {@value Checkpoint#KEY_HEADER_CHECKSUM}, in
     * ascending key order, the key and its value; then for every entry in data order, its name, its dtype, its
     * rank, each dimension, and its two data offsets.
     */
    static String of(Map<String, String> meta, List<Item> entries) {
        CRC32C crc = new CRC32C();
        for (String k : new TreeSet<>(meta.keySet())) {
            if (k.startsWith("fusedopt.") && !k.equals(KEY_HEADER_CHECKSUM)) {
                text(crc, k);
                text(crc, meta.get(k));
            }
        }
        List<Item> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Item::begin).thenComparingLong(Item::end).thenComparing(Item::name));
        for (Item e : sorted) {
            text(crc, e.name());
            text(crc, e.dtype());
            number(crc, e.shape().size());
            e.shape().forEach(d -> number(crc, d));
            number(crc, e.begin());
            number(crc, e.end());
        }
        return Safetensors.hex(crc);
    }

    private static void text(CRC32C crc, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        number(crc, b.length);
        crc.update(b);
    }

    private static void number(CRC32C crc, long v) {
        crc.update(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).flip());
    }
}
