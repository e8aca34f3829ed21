package io.fusedopt.golden;

import io.fusedopt.core.Dtype;
import io.fusedopt.rule.Algorithms;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One conformance case in the golden format (see {@code src/test/resources/golden/FORMAT.md}): an optimizer or a
 * schedule, initial tensors, and per step the gradients, the learning rate used and the expected parameters.
 * {@link #parse} checks every field and names the first one that is wrong.
 */
public record GoldenCase(
        String file,
        String name,
        String optimizer,
        Map<String, Object> hyperparams,
        Map<String, Object> schedule,
        Map<String, Object> lookahead,
        List<long[]> shapes,
        List<float[]> initial,
        List<Step> steps,
        double rel,
        double abs,
        int ulps,
        int formatVersion,
        List<String> unsupported,
        Storage storage) {

    /**
     * The storage of a format-2 case (FORMAT.md, "Mixed precision"): the parameters' and gradients' dtype, the
     * states' dtype, and whether the optimizer keeps float32 master weights; float32 throughout otherwise.
     *
     * @param param the parameters' dtype
     * @param grad the gradients' dtype
     * @param state the state slots' dtype
     * @param master whether float32 master weights are kept
     */
    public record Storage(Dtype param, Dtype grad, Dtype state, boolean master) {
        /** Float32 parameters, gradients and states, no master copy. */
        public static final Storage FLOAT32 = new Storage(Dtype.FLOAT32, Dtype.FLOAT32, Dtype.FLOAT32, false);
    }

    /** The newest case format this reader knows (see FORMAT.md, "Format version 2"). */
    public static final int FORMAT_VERSION = 2;

    /**
     * One step: gradients per tensor (empty for schedule-only cases), the rate used, the expected parameters, and
     * the expected evaluation weights per tensor ({@code info.eval_params}, Schedule-Free AdamW; empty elsewhere).
     */
    public record Step(List<float[]> grads, double lr, List<float[]> expected, List<float[]> evalParams,
            List<float[]> expectedMaster) {
    }

    // NaN is read so that a case holding it is rejected with the field's name rather than a parse error.
    private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * Whether the library can run this case: a format-2 case may use features it does not have yet; then
     * {@link #unsupported()} names each field and why, and the case must be skipped, never run with the field
     * ignored.
     */
    public boolean runnable() {
        return unsupported.isEmpty();
    }

    /** Whether the case tests a schedule alone. */
    public boolean scheduleOnly() {
        return optimizer == null;
    }

    /**
     * The largest case file read, 16 MiB (the bundled cases are under 64 KiB): parsing a JSON file takes several
     * times its size in heap, so a larger file is refused before it is read.
     */
    public static final int MAX_FILE_BYTES = 16 << 20;
    /** The most elements one tensor of a case may have: each needs at least two characters of a case file. */
    public static final long MAX_TENSOR_ELEMENTS = MAX_FILE_BYTES / 2;

    /**
     * Reads and checks a case file; {@link #readBytes} says what it refuses before parsing.
     *
     * @throws GoldenFormatException naming the file and the problem
     */
    public static GoldenCase read(Path path) throws GoldenFormatException {
        return parse(path.toString(), readBytes(path, path.toString()));
    }

    /**
     * The bytes of a case file, named {@code file} in errors. Refuses, without reading it, anything but a regular
     * file after links are followed (a pipe would block forever, {@code /dev/zero} never ends) and a file over
     * {@link #MAX_FILE_BYTES}; a file that grows past the limit while being read is refused too.
     *
     * @throws GoldenFormatException naming the file and the problem
     */
    public static byte[] readBytes(Path path, String file) throws GoldenFormatException {
        try {
            java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(path,
                    java.nio.file.attribute.BasicFileAttributes.class);
            if (!a.isRegularFile()) {
                throw new GoldenFormatException(file, "", "is not a regular file (a directory, pipe, device or"
                        + " socket); case files are regular files");
            }
            if (a.size() > MAX_FILE_BYTES) {
                throw new GoldenFormatException(file, "", "is " + a.size() + " bytes, over the " + MAX_FILE_BYTES
                        + "-byte limit of a case file");
            }
            try (java.io.InputStream in = Files.newInputStream(path)) {
                byte[] bytes = in.readNBytes(MAX_FILE_BYTES + 1);
                if (bytes.length > MAX_FILE_BYTES) {
                    throw new GoldenFormatException(file, "", "grew past the " + MAX_FILE_BYTES
                            + "-byte limit of a case file while being read");
                }
                return bytes;
            }
        } catch (IOException e) {
            throw new GoldenFormatException(file, "", "cannot read: " + e.getMessage());
        }
    }

    /**
     * Parses and checks a case from bytes; {@code file} names it in errors.
     *
     * @throws GoldenFormatException naming the file, the field and the problem; also for more than
     *     {@link #MAX_FILE_BYTES} bytes
     */
    public static GoldenCase parse(String file, byte[] bytes) throws GoldenFormatException {
        if (bytes.length > MAX_FILE_BYTES) {
            throw new GoldenFormatException(file, "", "is " + bytes.length + " bytes, over the " + MAX_FILE_BYTES
                    + "-byte limit of a case file");
        }
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new GoldenFormatException(file, "", "invalid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()));
        } catch (IOException e) {
            throw new GoldenFormatException(file, "", "cannot read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new GoldenFormatException(file, "", "the top level must be a JSON object");
        }
        Reader r = new Reader(file);
        int version = 1;
        JsonNode fv = root.get("format_version");
        if (fv != null) {
            if (!fv.isIntegralNumber() || fv.asInt() < 1 || fv.asInt() > FORMAT_VERSION) {
                throw new GoldenFormatException(file, "format_version", "must be 1 or " + FORMAT_VERSION
                        + " (this reader's newest), got " + fv);
            }
            version = fv.asInt();
        }
        String name = r.text(root, "name");
        JsonNode opt = root.get("optimizer");
        String optimizer = null;
        if (opt != null && !opt.isNull()) {
            optimizer = r.text(root, "optimizer");
        }
        Map<String, Object> hyper = r.object(root, "hyperparams", false);
        Map<String, Object> schedule = r.object(root, "schedule", true);
        Map<String, Object> lookahead = r.object(root, "lookahead", true);
        JsonNode tol = r.node(root, "tolerance", "tolerance");
        // Format 2: a case whose outputs are all 16-bit values is checked in units in the last place only.
        boolean ulpsOnly = version >= 2 && tol.has("ulps") && !tol.has("rel") && !tol.has("abs");
        double rel = ulpsOnly ? 0 : r.finiteNonNegative(tol, "rel", "tolerance.rel");
        double abs = ulpsOnly ? 0 : r.finiteNonNegative(tol, "abs", "tolerance.abs");
        int ulps = -1;
        if (version >= 2 && tol.has("ulps")) {
            JsonNode u = tol.get("ulps");
            if (!u.isIntegralNumber() || u.asInt() < 0) {
                throw new GoldenFormatException(file, "tolerance.ulps", "must be a whole number >= 0, got " + u);
            }
            ulps = u.asInt();
        }
        JsonNode tensors = r.array(root, "tensors", "tensors");
        List<long[]> shapes = new ArrayList<>();
        List<float[]> initial = new ArrayList<>();
        for (int i = 0; i < tensors.size(); i++) {
            String p = "tensors[" + i + "]";
            JsonNode t = tensors.get(i);
            JsonNode shapeNode = r.array(t, "shape", p + ".shape");
            if (shapeNode.isEmpty()) {
                throw new GoldenFormatException(file, p + ".shape", "must have at least one dimension");
            }
            long[] shape = new long[shapeNode.size()];
            long n = 1;
            for (int d = 0; d < shape.length; d++) {
                JsonNode dn = shapeNode.get(d);
                if (!dn.canConvertToLong() || !dn.isIntegralNumber() || dn.asLong() < 1) {
                    throw new GoldenFormatException(file, p + ".shape[" + d + "]", "must be a whole number >= 1, got " + dn);
                }
                shape[d] = dn.asLong();
                if (n > MAX_TENSOR_ELEMENTS / shape[d]) {
                    throw new GoldenFormatException(file, p + ".shape", "has more than " + MAX_TENSOR_ELEMENTS
                            + " elements, more than a case file may hold");
                }
                n *= shape[d];
            }
            if (n > MAX_TENSOR_ELEMENTS) {
                throw new GoldenFormatException(file, p + ".shape", "has " + n + " elements, more than a case file"
                        + " may hold");
            }
            shapes.add(shape);
            initial.add(r.floats(t, "initial", p + ".initial", (int) n));
        }
        if (optimizer != null && tensors.isEmpty()) {
            throw new GoldenFormatException(file, "tensors", "an optimizer case needs at least one tensor");
        }
        JsonNode stepsNode = r.array(root, "steps", "steps");
        if (stepsNode.isEmpty()) {
            throw new GoldenFormatException(file, "steps", "must hold at least one step");
        }
        JsonNode info = root.get("info");
        JsonNode evalNode = info != null && info.isObject() ? info.get("eval_params") : null;
        if (evalNode != null && !evalNode.isNull()) {
            evalNode = r.array(info, "eval_params", "info.eval_params");
            if (evalNode.size() != stepsNode.size()) {
                throw new GoldenFormatException(file, "info.eval_params", "has " + evalNode.size()
                        + " steps, expected " + stepsNode.size());
            }
        } else {
            evalNode = null;
        }
        List<Step> steps = new ArrayList<>();
        for (int s = 0; s < stepsNode.size(); s++) {
            String p = "steps[" + s + "]";
            JsonNode st = stepsNode.get(s);
            double lr = r.finiteNonNegative(st, "lr", p + ".lr");
            List<float[]> grads = new ArrayList<>();
            List<float[]> expected = new ArrayList<>();
            List<float[]> eval = new ArrayList<>();
            List<float[]> masters = new ArrayList<>();
            if (optimizer != null) {
                JsonNode g = r.array(st, "grads", p + ".grads");
                JsonNode e = r.array(st, "expected", p + ".expected");
                if (g.size() != shapes.size()) {
                    throw new GoldenFormatException(file, p + ".grads", "has " + g.size() + " tensors, expected " + shapes.size());
                }
                if (e.size() != shapes.size()) {
                    throw new GoldenFormatException(file, p + ".expected", "has " + e.size() + " tensors, expected " + shapes.size());
                }
                for (int i = 0; i < shapes.size(); i++) {
                    int n = initial.get(i).length;
                    grads.add(r.floatArray(g.get(i), p + ".grads[" + i + "]", n, true));
                    expected.add(r.floatArray(e.get(i), p + ".expected[" + i + "]", n, true));
                }
                JsonNode em = st.get("expected_master");
                if (version >= 2 && em != null && !em.isNull()) {
                    em = r.array(st, "expected_master", p + ".expected_master");
                    if (em.size() != shapes.size()) {
                        throw new GoldenFormatException(file, p + ".expected_master", "has " + em.size()
                                + " tensors, expected " + shapes.size());
                    }
                    for (int i = 0; i < shapes.size(); i++) {
                        masters.add(r.floatArray(em.get(i), p + ".expected_master[" + i + "]",
                                initial.get(i).length, true));
                    }
                }
                if (evalNode != null) {
                    String ep = "info.eval_params[" + s + "]";
                    JsonNode x = r.array(evalNode, s, ep);
                    if (x.size() != shapes.size()) {
                        throw new GoldenFormatException(file, ep, "has " + x.size() + " tensors, expected "
                                + shapes.size());
                    }
                    for (int i = 0; i < shapes.size(); i++) {
                        eval.add(r.floatArray(x.get(i), ep + "[" + i + "]", initial.get(i).length, true));
                    }
                }
            }
            steps.add(new Step(grads, lr, expected, eval, masters));
        }
        if (optimizer == null && schedule == null) {
            throw new GoldenFormatException(file, "schedule", "a case without an optimizer must have a schedule");
        }
        Object lr0 = hyper.get("lr");
        if (!(lr0 instanceof Number) || ((Number) lr0).doubleValue() < 0) {
            throw new GoldenFormatException(file, "hyperparams.lr", lr0 == null ? "is missing"
                    : "must be a number >= 0, got " + lr0);
        }
        List<String> unsupported = version >= 2 ? unsupported(root, optimizer, lookahead) : List.of();
        Storage storage = version >= 2 && unsupported.isEmpty() ? storage(root) : Storage.FLOAT32;
        if (storage.master()) {
            for (int s = 0; s < steps.size(); s++) {
                if (steps.get(s).expectedMaster().isEmpty()) {
                    throw new GoldenFormatException(file, "steps[" + s + "].expected_master", "is missing: a case"
                            + " with master weights lists the float32 masters of every step");
                }
            }
        }
        return new GoldenCase(file, name, optimizer, hyper, schedule, lookahead, shapes, initial, steps, rel, abs,
                ulps, version, unsupported, storage);
    }

    /**
     * The format-2 fields of a case that name a feature the library does not have yet, each as
     * {@code "<field>: <why>"}; empty when the case can run.
     */
    private static List<String> unsupported(JsonNode root, String optimizer, Map<String, Object> lookahead) {
        List<String> out = new ArrayList<>();
        String id = "lookahead".equals(optimizer) && lookahead != null && lookahead.get("inner") instanceof String s
                ? s : optimizer;
        if (id != null && !Algorithms.names().contains(id)) {
            out.add(("lookahead".equals(optimizer) ? "lookahead.inner" : "optimizer") + ": '" + id
                    + "' is not an algorithm of this library");
        }
        Dtype[] d = new Dtype[3];
        List<String> keys = List.of("param_dtype", "grad_dtype", "state_dtype");
        for (int k = 0; k < 3; k++) {
            JsonNode n = root.get(keys.get(k));
            d[k] = Dtype.FLOAT32;
            if (n != null && !n.isNull()) {
                if (!n.isTextual() || !List.of("float32", "bfloat16", "float16").contains(n.asText())) {
                    out.add(keys.get(k) + ": " + n + " is not a storage type of this library (float32, bfloat16,"
                            + " float16)");
                } else {
                    d[k] = Dtype.parse(n.asText());
                }
            }
        }
        JsonNode mw = root.get("master_weights");
        boolean master = mw != null && mw.asBoolean(false);
        if (out.isEmpty()) {
            if (d[1] != d[0]) {
                out.add("grad_dtype: " + d[1].label() + " gradients for " + d[0].label() + " parameters are not"
                        + " supported (they share one dtype)");
            } else if (master && !d[0].isHalf()) {
                out.add("master_weights: master weights of float32 parameters are not supported");
            } else if (master && d[2] == Dtype.FLOAT16) {
                out.add("state_dtype: float16 states with master weights are not supported (float32 or bfloat16)");
            } else if (!master && d[2] != d[0]) {
                out.add("state_dtype: " + d[2].label() + " states for " + d[0].label() + " parameters without"
                        + " master weights are not supported");
            }
        }
        for (String key : List.of("clip", "loss_scale")) {
            JsonNode n = root.get(key);
            if (n != null && !n.isNull()) {
                out.add(key + ": " + (key.equals("clip") ? "gradient clipping" : "loss scaling") + " is not supported");
            }
        }
        return List.copyOf(out);
    }

    /** The storage fields of a case that {@link #unsupported} accepted. */
    private static Storage storage(JsonNode root) {
        Dtype[] d = new Dtype[3];
        List<String> keys = List.of("param_dtype", "grad_dtype", "state_dtype");
        for (int k = 0; k < 3; k++) {
            JsonNode n = root.get(keys.get(k));
            d[k] = n == null || n.isNull() ? Dtype.FLOAT32 : Dtype.parse(n.asText());
        }
        JsonNode mw = root.get("master_weights");
        return new Storage(d[0], d[1], d[2], mw != null && mw.asBoolean(false));
    }

    /** Field readers that name the field path in every error. */
    private static final class Reader {
        private final String file;

        Reader(String file) {
            this.file = file;
        }

        JsonNode node(JsonNode parent, String key, String path) throws GoldenFormatException {
            JsonNode n = parent == null ? null : parent.get(key);
            if (n == null || n.isNull()) {
                throw new GoldenFormatException(file, path, "is missing");
            }
            return n;
        }

        String text(JsonNode parent, String key) throws GoldenFormatException {
            JsonNode n = node(parent, key, key);
            if (!n.isTextual()) {
                throw new GoldenFormatException(file, key, "must be a string, got " + n);
            }
            return n.asText();
        }

        JsonNode array(JsonNode parent, int index, String path) throws GoldenFormatException {
            JsonNode n = parent.get(index);
            if (n == null || !n.isArray()) {
                throw new GoldenFormatException(file, path, "must be an array, got " + abbreviate(n));
            }
            return n;
        }

        JsonNode array(JsonNode parent, String key, String path) throws GoldenFormatException {
            JsonNode n = node(parent, key, path);
            if (!n.isArray()) {
                throw new GoldenFormatException(file, path, "must be an array, got " + abbreviate(n));
            }
            return n;
        }

        Map<String, Object> object(JsonNode parent, String key, boolean nullable) throws GoldenFormatException {
            JsonNode n = parent.get(key);
            if (n == null || n.isNull()) {
                if (nullable) {
                    return null;
                }
                throw new GoldenFormatException(file, key, "is missing");
            }
            if (!n.isObject()) {
                throw new GoldenFormatException(file, key, "must be an object, got " + abbreviate(n));
            }
            return toMap(n, key);
        }

        private Map<String, Object> toMap(JsonNode n, String path) throws GoldenFormatException {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : n.properties()) {
                m.put(e.getKey(), value(e.getValue(), path + "." + e.getKey()));
            }
            return m;
        }

        private Object value(JsonNode v, String path) throws GoldenFormatException {
            if (v.isNull()) {
                return null;
            }
            if (v.isBoolean()) {
                return v.asBoolean();
            }
            if (v.isTextual()) {
                return v.asText();
            }
            if (v.isIntegralNumber()) {
                return v.asLong();
            }
            if (v.isNumber()) {
                double d = v.asDouble();
                if (!Double.isFinite(d)) {
                    throw new GoldenFormatException(file, path, "must be finite, got " + d);
                }
                return d;
            }
            if (v.isArray()) {
                List<Object> l = new ArrayList<>();
                for (int i = 0; i < v.size(); i++) {
                    l.add(value(v.get(i), path + "[" + i + "]"));
                }
                return l;
            }
            return toMap(v, path);
        }

        double finiteNonNegative(JsonNode parent, String key, String path) throws GoldenFormatException {
            JsonNode n = node(parent, key, path);
            if (!n.isNumber()) {
                throw new GoldenFormatException(file, path, "must be a number, got " + abbreviate(n));
            }
            double d = n.asDouble();
            if (!Double.isFinite(d) || d < 0) {
                throw new GoldenFormatException(file, path, "must be finite and >= 0, got " + d);
            }
            return d;
        }

        float[] floats(JsonNode parent, String key, String path, int n) throws GoldenFormatException {
            return floatArray(node(parent, key, path), path, n, true);
        }

        float[] floatArray(JsonNode a, String path, int n, boolean finite) throws GoldenFormatException {
            if (a == null || !a.isArray()) {
                throw new GoldenFormatException(file, path, "must be an array of numbers, got " + abbreviate(a));
            }
            if (a.size() != n) {
                throw new GoldenFormatException(file, path, "has " + a.size() + " values, expected " + n);
            }
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                JsonNode v = a.get(i);
                if (!v.isNumber()) {
                    throw new GoldenFormatException(file, path + "[" + i + "]", "must be a number, got " + abbreviate(v));
                }
                double d = v.asDouble();
                if (finite && !Double.isFinite(d)) {
                    throw new GoldenFormatException(file, path + "[" + i + "]", "must be finite, got " + d);
                }
                out[i] = (float) d;
            }
            return out;
        }

        private static String abbreviate(JsonNode n) {
            String s = String.valueOf(n);
            return s.length() > 40 ? s.substring(0, 37) + "..." : s;
        }
    }
}
