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

    private static byte[] pad(byte[] h, int length) {
        byte[] out = Arrays.copyOf(h, length);
        Arrays.fill(out, h.length, length, (byte) ' ');
        return out;
    }
}
