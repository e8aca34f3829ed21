package io.fusedopt.checkpoint;

import static io.fusedopt.checkpoint.Json.abbreviate;
import static io.fusedopt.checkpoint.Json.kind;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32C;

/**
 * The safetensors container, independent of what fusedopt stores in it: an 8-byte little-endian header length
 * {@code N}, {@code N} bytes of UTF-8 JSON padded with spaces to a multiple of 8, then the data. The header maps
 * entry names to {@code {"dtype", "shape", "data_offsets"}} and {@value Checkpoint#METADATA} to an object of
 * strings. Reading checks the rules safetensors enforces; writing pads as safetensors does.
 */
final class Safetensors {
    /**
     * The largest header read or written, 16 MiB: room for some 60,000 state entries, while a corrupt or hostile
     * header costs at most a few hundred MiB of heap to refuse. (Safetensors itself allows 100 MB, but a JSON tree
     * of that size needs gigabytes.)
     */
    static final long MAX_HEADER_BYTES = 16L << 20;

    private Safetensors() {
    }

    /**
     * One entry of the header: its name, dtype, shape and data byte range; {@code tensor} and {@code slot} say
     * which state buffer it holds once the schema has resolved it (null before, and for the per-tensor state).
     */
    record Item(String name, String dtype, List<Long> shape, long begin, long end, String tensor, String slot) {
    }

    /** A parsed header: where the data starts, how long it is, the JSON root and its metadata strings. */
    record Header(long dataStart, long dataLength, JsonNode root, Map<String, String> metadata) {
    }

    /** Opens {@code file} for reading; anything but a regular file is refused by name (see {@link #checkRegular}). */
    static FileChannel open(Path file) throws IOException {
        checkRegular(file);
        return FileChannel.open(file, StandardOpenOption.READ);
    }

    /**
     * Refuses a directory, a FIFO, a device or a socket (after following links), so that reading can neither hang
     * on a pipe nor run forever on {@code /dev/zero}. A missing file is left for the open to report.
     */
    static void checkRegular(Path file) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            return;
        }
        if (a.isDirectory()) {
            throw new CheckpointException(file, "is a directory, not a checkpoint file");
        }
        if (!a.isRegularFile()) {
            throw new CheckpointException(file, "is not a regular file (a pipe, device or socket), not a checkpoint"
                    + " file");
        }
    }

    /** Reads and checks the header length, the UTF-8 and JSON of the header, and the metadata object. */
    static Header read(Path file, FileChannel ch) throws IOException {
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
                    + "-byte limit of a fusedopt checkpoint header");
        }
        if (n < 2) {
            throw new CheckpointException(file, "header length " + n + " is too short for a JSON object");
        }
        ByteBuffer headBuf = ByteBuffer.allocate((int) n);
        readFully(ch, headBuf, 8);
        if (!utf8(headBuf.flip())) {
            throw new CheckpointException(file, "header is not valid UTF-8 (corrupt, or not a safetensors file)");
        }
        JsonNode root = Json.parse(file, "header", headBuf.array());
        if (!root.isObject()) {
            throw new CheckpointException(file, "header must be a JSON object, got " + kind(root));
        }
        return new Header(8 + n, size - 8 - n, root, metadata(file, root.get(Checkpoint.METADATA)));
    }

    // Checked in pieces, so that the check needs no second copy of the header as a string.
    private static boolean utf8(ByteBuffer bytes) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        CharBuffer out = CharBuffer.allocate(8192);
        ByteBuffer in = bytes.duplicate();
        while (true) {
            CoderResult r = d.decode(in, out, true);
            if (r.isError()) {
                return false;
            }
            out.clear();
            if (r.isUnderflow()) {
                return d.flush(out).isUnderflow();
            }
        }
    }

    private static Map<String, String> metadata(Path file, JsonNode meta) {
        String key = Checkpoint.METADATA;
        if (meta == null) {
            throw new CheckpointException(file, "header has no " + key + ": not a fusedopt checkpoint");
        }
        if (!meta.isObject()) {
            throw new CheckpointException(file, key + " must be an object, got " + kind(meta));
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : meta.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(file, key + "." + e.getKey() + " must be a string (safetensors"
                        + " metadata holds only strings), got " + kind(e.getValue()));
            }
            m.put(e.getKey(), e.getValue().asText());
        }
        return m;
    }

    /** The header's entries, each checked alone and then together: they must tile the data exactly. */
    static List<Item> entries(Path file, Header h) {
        List<Item> items = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : h.root().properties()) {
            String name = f.getKey();
            if (name.equals(Checkpoint.METADATA)) {
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
                case "BF16", "F16" -> 2;
                case "F64" -> 8;
                default -> throw new CheckpointException(file, at + ".dtype is \"" + abbreviate(dtype.asText())
                        + "\"; fusedopt checkpoints hold only F32, BF16, F16 and F64");
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
            items.add(new Item(name, dtype.asText(), shape, begin, end, null, null));
        }
        checkLayout(file, items, h.dataLength());
        return items;
    }

    /** A JSON array of whole numbers >= 0 ({@code length} of them, unless it is negative). */
    static List<Long> longs(Path file, JsonNode node, String what, int length) {
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
    private static void checkLayout(Path file, List<Item> items, long dataLength) {
        List<Item> sorted = new ArrayList<>(items);
        sorted.sort(Comparator.comparingLong(Item::begin).thenComparingLong(Item::end));
        long expected = 0;
        String previous = null;
        for (Item e : sorted) {
            if (e.begin() != expected) {
                throw new CheckpointException(file, "entry '" + e.name() + "' begins at data byte " + e.begin()
                        + " but " + (previous == null ? "the first entry must begin at 0" : "'" + previous
                        + "' ends at " + expected) + " (entries must be contiguous, without gaps or overlaps)");
            }
            expected = e.end();
            previous = e.name();
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

    /** The header bytes for {@code entries} (in that order) and {@code metadata}, padded with spaces. */
    static byte[] header(List<Item> entries, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode meta = root.putObject(Checkpoint.METADATA);
        metadata.forEach(meta::put);
        for (Item p : entries) {
            ObjectNode e = root.putObject(p.name());
            e.put("dtype", p.dtype());
            ArrayNode shape = e.putArray("shape");
            for (long d : p.shape()) {
                shape.add(d);
            }
            e.putArray("data_offsets").add(p.begin()).add(p.end());
        }
        byte[] json;
        try {
            json = Json.MAPPER.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode a checkpoint header: " + e.getOriginalMessage(), e);
        }
        // Spaces, as safetensors pads, so that the data after the 8-byte length and the header is 8-byte aligned.
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    // ------------------------------------------------------------------------------------------------ data

    /** The data section of an open checkpoint: held in memory, or read from the file on demand. */
    interface Data {
        /** Fills {@code dst}'s remaining bytes from data offset {@code offset}. */
        void read(long offset, ByteBuffer dst) throws IOException;
    }

    /** A data section read into memory. */
    record MemoryData(byte[] bytes) implements Data {
        @Override
        public void read(long offset, ByteBuffer dst) {
            dst.put(bytes, (int) offset, dst.remaining());
        }
    }

    /** A data section read from the open file. */
    record ChannelData(FileChannel ch, long dataStart) implements Data {
        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            readFully(ch, dst, dataStart + offset);
        }
    }

    /** The CRC32C of data bytes {@code [begin, end)}, read through {@code buf}. */
    static String crc(Data data, long begin, long end, ByteBuffer buf) throws IOException {
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

    /** A CRC32C as 8 lowercase hex digits. */
    static String hex(CRC32C crc) {
        return String.format(Locale.ROOT, "%08x", crc.getValue());
    }

    /** Reads until {@code dst} is full; a file that ends first is an {@link EOFException}. */
    static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int r = ch.read(dst, pos);
            if (r < 0) {
                throw new EOFException("the file ended at byte " + pos + " (it shrank while being read)");
            }
            pos += r;
        }
    }

    /** Writes all of {@code buf} at {@code position}. */
    static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            pos += ch.write(buf, pos);
        }
    }
}
