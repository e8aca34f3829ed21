package io.fusedopt.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A safetensors file taken apart for tests that forge broken checkpoints: the declared header length, the header
 * text, the parsed header, and the data bytes. Written independently of {@code Checkpoint}.
 */
public record StFile(long headerLength, String headerText, ObjectNode header, byte[] data) {
    /** The mapper the tests use for headers and metadata. */
    public static final ObjectMapper JSON = new ObjectMapper();

    /** Reads a well-formed file. */
    public static StFile read(Path p) {
        try {
            byte[] all = Files.readAllBytes(p);
            long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            String text = new String(all, 8, (int) n, StandardCharsets.UTF_8);
            ObjectNode header = (ObjectNode) JSON.readTree(text);
            return new StFile(n, text, header, Arrays.copyOfRange(all, 8 + (int) n, all.length));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The metadata object of the header. */
    public ObjectNode metadata() {
        return (ObjectNode) header.get("__metadata__");
    }

    /** Writes {@code header} (padded with spaces to a multiple of 8) and {@code data}. */
    public static void write(Path p, ObjectNode header, byte[] data) {
        try {
            write(p, JSON.writeValueAsString(header), data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a header text (padded with spaces to a multiple of 8) and data. */
    public static void write(Path p, String headerText, byte[] data) {
        byte[] h = headerText.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        writeRaw(p, padded, Arrays.copyOf(pad(h, padded), padded), data);
    }

    /** Writes a declared header length, header bytes and data as given, without any check. */
    public static void writeRaw(Path p, long declaredLength, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header).put(data);
        try {
            Files.write(p, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A copy of {@code header} whose {@code fusedopt.header_checksum} (when it has one) is recomputed over its
     * current metadata and entry table, as the format describes it: for the tests that forge a header and mean the
     * deeper checks, not the header checksum, to catch it. Written from the format's description, not from the
     * library's code.
     */
    public static ObjectNode resealed(ObjectNode header) {
        ObjectNode h = header.deepCopy();
        if (!(h.get("__metadata__") instanceof ObjectNode meta) || !meta.has("fusedopt.header_checksum")) {
            return h;
        }
        java.io.ByteArrayOutputStream canon = new java.io.ByteArrayOutputStream();
        java.util.TreeMap<String, String> keys = new java.util.TreeMap<>();
        meta.properties().forEach(e -> keys.put(e.getKey(), e.getValue().asText()));
        keys.forEach((k, v) -> {
            if (k.startsWith("fusedopt.") && !k.equals("fusedopt.header_checksum")) {
                str(canon, k);
                str(canon, v);
            }
        });
        java.util.List<java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> entries =
                new java.util.ArrayList<>();
        h.properties().forEach(e -> {
            if (!e.getKey().equals("__metadata__")) {
                entries.add(e);
            }
        });
        entries.sort(java.util.Comparator.comparingLong(e -> e.getValue().path("data_offsets").path(0).asLong()));
        for (var e : entries) {
            com.fasterxml.jackson.databind.JsonNode v = e.getValue();
            str(canon, e.getKey());
            str(canon, v.path("dtype").asText());
            u64(canon, v.path("shape").size());
            v.path("shape").forEach(d -> u64(canon, d.asLong()));
            u64(canon, v.path("data_offsets").path(0).asLong());
            u64(canon, v.path("data_offsets").path(1).asLong());
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(canon.toByteArray());
        meta.put("fusedopt.header_checksum", String.format(java.util.Locale.ROOT, "%08x", crc.getValue()));
        return h;
    }

    private static void str(java.io.ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(out, b.length);
        out.writeBytes(b);
    }

    private static void u64(java.io.ByteArrayOutputStream out, long v) {
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    private static byte[] pad(byte[] h, int length) {
        byte[] out = Arrays.copyOf(h, length);
        Arrays.fill(out, h.length, length, (byte) ' ');
        return out;
    }
}
