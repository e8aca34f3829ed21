package io.fusedopt.checkpoint;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fusedopt.CheckpointException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;

/** The JSON mapper of checkpoint headers and the wording of checkpoint problems. */
final class Json {
    /** Strict: a duplicate key or trailing text in a header is corruption, not something to guess around. */
    static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Json() {
    }

    /** Parses {@code text}, or throws a {@link CheckpointException} naming {@code what} and where it breaks. */
    static JsonNode parse(Path file, String what, String text) {
        return parse(file, what, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Parses UTF-8 {@code json}, or throws a {@link CheckpointException} naming {@code what} and where it breaks. */
    static JsonNode parse(Path file, String what, byte[] json) {
        try {
            JsonNode n = MAPPER.readTree(json);
            if (n == null || n.isMissingNode()) {
                throw new CheckpointException(file, what + " is empty, expected JSON");
            }
            return n;
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr();
            throw new CheckpointException(file, what + " is not valid JSON: " + e.getOriginalMessage() + where, e);
        } catch (IOException e) {
            throw new CheckpointException(file, what + " cannot be read: " + ioProblem(e), e);
        }
    }

    /**
     * The JSON text of {@code value} with every object's keys in ascending order, at every depth, and the elements
     * of an unordered set sorted: the same in every JVM run whatever maps the value is made of ({@code Map.of}
     * iterates in an order each run picks anew, and a {@code LinkedHashMap} copied from one inherits it), so that
     * checkpoints are byte-for-byte reproducible.
     */
    static String stable(Object value) {
        try {
            return MAPPER.writeValueAsString(canonical(value));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode checkpoint metadata: " + e.getOriginalMessage(), e);
        }
    }

    private static Object canonical(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new TreeMap<>();
            m.forEach((k, x) -> out.put(String.valueOf(k), canonical(x)));
            return out;
        }
        if (v instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>();
            c.forEach(x -> out.add(canonical(x)));
            if (v instanceof Set<?> && !(v instanceof SortedSet<?>)) {
                out.sort(Comparator.comparing(String::valueOf));
            }
            return out;
        }
        return v;
    }

    /** A short phrase for an I/O failure. */
    static String ioProblem(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    /** The node's type and (abbreviated) text, for "must be X, got Y" messages. */
    static String kind(JsonNode n) {
        if (n == null || n.isMissingNode()) {
            return "nothing";
        }
        return n.getNodeType().name().toLowerCase(Locale.ROOT) + " " + abbreviate(n.toString());
    }

    /** At most 200 characters of {@code s}. */
    static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
