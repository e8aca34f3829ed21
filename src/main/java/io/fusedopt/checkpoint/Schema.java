package io.fusedopt.checkpoint;

import static io.fusedopt.Checkpoint.KEY_CHECKSUMS;
import static io.fusedopt.Checkpoint.KEY_FORMAT;
import static io.fusedopt.Checkpoint.KEY_HEADER_CHECKSUM;
import static io.fusedopt.Checkpoint.KEY_LOSS_SCALE;
import static io.fusedopt.Checkpoint.KEY_LR_CONTROL;
import static io.fusedopt.Checkpoint.KEY_OPTIMIZER;
import static io.fusedopt.Checkpoint.KEY_SKIPPED;
import static io.fusedopt.Checkpoint.KEY_SLOTS;
import static io.fusedopt.Checkpoint.KEY_STEP;
import static io.fusedopt.Checkpoint.KEY_TENSORS;
import static io.fusedopt.Checkpoint.KEY_TENSOR_STATE_WIDTH;
import static io.fusedopt.Checkpoint.METADATA;
import static io.fusedopt.Checkpoint.TENSOR_STATE;
import static io.fusedopt.checkpoint.Json.abbreviate;
import static io.fusedopt.checkpoint.Json.kind;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.Checkpoint;
import io.fusedopt.Checkpoint.TensorInfo;
import io.fusedopt.CheckpointException;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerSpec;
import io.fusedopt.core.Tensor;
import io.fusedopt.checkpoint.Safetensors.Item;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The fusedopt metadata schema inside the safetensors header: the {@code fusedopt.*} keys of
 * {@value Checkpoint#METADATA} (described in {@link Checkpoint}), and which entries they imply. Reading checks
 * everything that needs no optimizer; writing produces the metadata of a live optimizer.
 */
final class Schema {
    private Schema() {
    }

    /** A header that passed every check that needs no optimizer. */
    static final class Parsed {
        long dataStart;
        long dataLength;
        int format;
        /** The recorded header checksum; null in a format-1 file, which has none. */
        String headerChecksum;
        long step;
        long skipped;
        JsonNode optimizer;
        List<TensorInfo> tensors;
        List<String> slots;
        int width;
        Map<String, String> checksums;
        List<Item> entries;
        /** The learning-rate control: each group's base rate, null when the checkpoint has none (configured). */
        double[] baseLr;
        double lrScale = 1.0;
        /** The loss scale and its growth tracker; scale 0 when the checkpoint has none. */
        float lossScale;
        int growthTracker;

        Item item(String name) {
            for (Item e : entries) {
                if (e.name().equals(name)) {
                    return e;
                }
            }
            throw new IllegalStateException("no entry " + name);
        }
    }

    /** Reads the header of {@code file} and checks the container and the schema. */
    static Parsed parse(Path file, FileChannel ch) throws IOException {
        Safetensors.Header h = Safetensors.read(file, ch);
        Map<String, String> meta = h.metadata();
        format(file, meta);
        Parsed p = parse(file, meta, Safetensors.entries(file, h));
        p.dataStart = h.dataStart();
        p.dataLength = h.dataLength();
        return p;
    }

    /**
     * Checks the metadata and the entry table of a header, a file's or an in-memory {@link StateImage}'s ({@code file}
     * names the source in messages); the data starts at 0.
     */
    static Parsed parse(Path file, Map<String, String> meta, List<Item> raw) {
        Parsed p = new Parsed();
        p.format = format(file, meta);
        // Before any field is interpreted: a corrupt field is then reported as what it is.
        p.headerChecksum = HeaderChecksum.check(file, p.format, meta, raw);

        p.step = count(file, meta, KEY_STEP);
        p.skipped = count(file, meta, KEY_SKIPPED);
        p.optimizer = Json.parse(file, METADATA + "." + KEY_OPTIMIZER, required(file, meta, KEY_OPTIMIZER));
        checkDescription(file, p.optimizer);
        p.tensors = tensors(file, Json.parse(file, METADATA + "." + KEY_TENSORS, required(file, meta, KEY_TENSORS)));
        p.slots = slots(file, Json.parse(file, METADATA + "." + KEY_SLOTS, required(file, meta, KEY_SLOTS)));
        long width = count(file, meta, KEY_TENSOR_STATE_WIDTH);
        if (width > 64) {
            throw new CheckpointException(file, METADATA + "." + KEY_TENSOR_STATE_WIDTH + " is " + width
                    + ", more than any rule keeps");
        }
        p.width = (int) width;
        p.entries = resolve(file, raw, p);
        p.checksums = checksums(file, Json.parse(file, METADATA + "." + KEY_CHECKSUMS,
                required(file, meta, KEY_CHECKSUMS)), p.entries);
        if (meta.containsKey(KEY_LR_CONTROL)) {
            lrControl(file, Json.parse(file, METADATA + "." + KEY_LR_CONTROL, meta.get(KEY_LR_CONTROL)), p);
        }
        if (meta.containsKey(KEY_LOSS_SCALE)) {
            lossScale(file, Json.parse(file, METADATA + "." + KEY_LOSS_SCALE, meta.get(KEY_LOSS_SCALE)), p);
        }
        return p;
    }

    /** Reads the optional learning-rate control: one finite base rate >= 0 per group, a finite scale > 0. */
    private static void lrControl(Path file, JsonNode node, Parsed p) {
        String at = METADATA + "." + KEY_LR_CONTROL;
        int groups = p.optimizer.get("groups").size();
        JsonNode base = node.isObject() ? node.get("base_lr") : null;
        JsonNode scale = node.isObject() ? node.get("lr_scale") : null;
        if (base == null || !base.isArray() || base.size() != groups) {
            throw new CheckpointException(file, at + ".base_lr must be an array of " + groups + " rates (one per"
                    + " group), got " + kind(base));
        }
        p.baseLr = new double[groups];
        for (int g = 0; g < groups; g++) {
            JsonNode v = base.get(g);
            if (!v.isNumber() || !Double.isFinite(v.doubleValue()) || v.doubleValue() < 0) {
                throw new CheckpointException(file, at + ".base_lr[" + g + "] (group '"
                        + p.optimizer.get("groups").get(g).get("name").asText() + "') must be a finite rate >= 0,"
                        + " got " + abbreviate(v.toString()));
            }
            p.baseLr[g] = v.doubleValue();
        }
        if (scale == null || !scale.isNumber() || !Double.isFinite(scale.doubleValue()) || scale.doubleValue() <= 0) {
            throw new CheckpointException(file, at + ".lr_scale must be a finite number > 0, got " + kind(scale));
        }
        p.lrScale = scale.doubleValue();
    }

    /** Reads the optional loss scale: a finite float32 > 0 and a whole tracker >= 0. */
    private static void lossScale(Path file, JsonNode node, Parsed p) {
        String at = METADATA + "." + KEY_LOSS_SCALE;
        JsonNode scale = node.isObject() ? node.get("scale") : null;
        JsonNode tracker = node.isObject() ? node.get("growth_tracker") : null;
        if (scale == null || !scale.isNumber() || !(scale.doubleValue() > 0) || !Float.isFinite(scale.floatValue())
                || (double) scale.floatValue() != scale.doubleValue()) {
            throw new CheckpointException(file, at + ".scale must be a finite float32 > 0, got " + kind(scale));
        }
        if (tracker == null || !tracker.isIntegralNumber() || !tracker.canConvertToInt() || tracker.intValue() < 0) {
            throw new CheckpointException(file, at + ".growth_tracker must be a whole number >= 0, got "
                    + kind(tracker));
        }
        p.lossScale = scale.floatValue();
        p.growthTracker = tracker.intValue();
    }

    /** The metadata of {@code opt}'s checkpoint with the given entry checksums, for the header of {@code entries}. */
    static Map<String, String> metadata(Optimizer opt, int width, Map<String, String> checksums, List<Item> entries) {
        try {
            Map<String, String> m = new LinkedHashMap<>();
            m.put(KEY_FORMAT, Integer.toString(Checkpoint.FORMAT_VERSION));
            m.put(KEY_OPTIMIZER, Json.stable(OptimizerSpec.describe(opt)));
            m.put(KEY_STEP, Long.toString(opt.stepCount()));
            m.put(KEY_SKIPPED, Long.toString(opt.skippedSteps()));
            ArrayNode tensors = Json.MAPPER.createArrayNode();
            for (Tensor t : opt.store().tensors()) {
                ObjectNode o = tensors.addObject();
                o.put("name", t.name());
                ArrayNode shape = o.putArray("shape");
                for (long d : t.shape()) {
                    shape.add(d);
                }
            }
            m.put(KEY_TENSORS, Json.MAPPER.writeValueAsString(tensors));
            m.put(KEY_SLOTS, Json.stable(opt.slotNames()));
            m.put(KEY_TENSOR_STATE_WIDTH, Integer.toString(width));
            m.put(KEY_CHECKSUMS, Json.stable(checksums));
            String lr = lrControl(opt);
            if (lr != null) {
                m.put(KEY_LR_CONTROL, lr);
            }
            if (opt.scalesLoss()) {
                Map<String, Object> ls = new LinkedHashMap<>();
                ls.put("scale", (double) opt.lossScale());
                ls.put("growth_tracker", opt.lossScaleGrowthTracker());
                m.put(KEY_LOSS_SCALE, Json.stable(ls));
            }
            m.put(KEY_HEADER_CHECKSUM, HeaderChecksum.of(m, entries));
            return m;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode the optimizer description: " + e.getOriginalMessage(), e);
        }
    }

    /** The learning-rate control of {@code opt} as JSON, or null when it is the configured one. */
    private static String lrControl(Optimizer opt) {
        boolean configured = opt.lrScale() == 1.0;
        List<Double> base = new ArrayList<>();
        for (int g = 0; g < opt.groupNames().size(); g++) {
            base.add(opt.baseLearningRate(g));
            configured &= opt.baseLearningRate(g) == opt.rule().baseLr(g);
        }
        if (configured) {
            return null;
        }
        Map<String, Object> control = new LinkedHashMap<>();
        control.put("base_lr", base);
        control.put("lr_scale", opt.lrScale());
        return Json.stable(control);
    }

    private static int format(Path file, Map<String, String> meta) {
        String v = meta.get(KEY_FORMAT);
        if (v == null) {
            throw new CheckpointException(file, METADATA + " has no " + KEY_FORMAT + ": not a fusedopt checkpoint");
        }
        for (int version = 1; version <= Checkpoint.FORMAT_VERSION; version++) {
            if (v.equals(Integer.toString(version))) {
                return version;
            }
        }
        throw new CheckpointException(file, "format version \"" + abbreviate(v) + "\" is not supported; this"
                + " fusedopt reads versions 1 to " + Checkpoint.FORMAT_VERSION);
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
        finite(file, d, at);
    }

    // JSON has no infinity, but a number beyond the range of a double (1e400) reads as one; no hyperparameter or
    // schedule setting can be that, and comparing it with the live value must not fail on it.
    private static void finite(Path file, JsonNode n, String at) {
        if (n.isNumber() && !Double.isFinite(n.doubleValue())) {
            throw new CheckpointException(file, at + " is a number beyond the range of a double (read as "
                    + n.doubleValue() + ")");
        }
        if (n.isArray()) {
            for (int i = 0; i < n.size(); i++) {
                finite(file, n.get(i), at + "[" + i + "]");
            }
        } else if (n.isObject()) {
            for (Map.Entry<String, JsonNode> f : n.properties()) {
                finite(file, f.getValue(), at + "." + f.getKey());
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
            if (!t.isObject() || t.get("name") == null || !t.get("name").isTextual()
                    || t.get("name").asText().isEmpty()) {
                throw new CheckpointException(file, tat + ".name must be a non-empty string");
            }
            String name = t.get("name").asText();
            if (!seen.add(name)) {
                throw new CheckpointException(file, tat + ".name '" + name + "' appears twice");
            }
            List<Long> shape = Safetensors.longs(file, t.get("shape"), tat + ".shape", -1);
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

    /** Whether the rule the checkpoint names has a shaped slot {@code slot} ({@link io.fusedopt.rule.Rule#slotShaped}). */
    private static boolean shapedSlot(Parsed p, String slot) {
        JsonNode id = p.optimizer.get("optimizer");
        if (id == null || !id.isTextual()) {
            return false;
        }
        try {
            io.fusedopt.rule.Rule r = io.fusedopt.rule.Algorithms.named(id.asText()).create(java.util.Map.of());
            int i = r.slots().indexOf(slot);
            return i >= 0 && r.slotShaped(i);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Checks that the entries are exactly the slots of the listed tensors (plus the tensor state), in shape. */
    private static List<Item> resolve(Path file, List<Item> raw, Parsed p) {
        Map<String, Item> byName = new HashMap<>();
        for (Item e : raw) {
            byName.put(e.name(), e);
        }
        List<Item> out = new ArrayList<>();
        Set<String> expected = new LinkedHashSet<>();
        for (TensorInfo t : p.tensors) {
            for (String s : p.slots) {
                String name = t.name() + "." + s;
                expected.add(name);
                Item e = byName.get(name);
                if (e == null) {
                    throw new CheckpointException(file, "has no entry '" + name + "' (slot '" + s + "' of tensor '"
                            + t.name() + "')");
                }
                // A shaped slot of the checkpoint's rule (Adafactor's v) may differ from the tensor's shape; a
                // load then holds it against the loading optimizer's own shape (Matching).
                if (!java.util.Set.of("F32", "BF16", "F16").contains(e.dtype())
                        || !(e.shape().equals(t.shape()) || shapedSlot(p, s))) {
                    throw new CheckpointException(file, "entry '" + name + "' is " + e.dtype() + " " + e.shape()
                            + " but tensor '" + t.name() + "' has shape " + t.shape() + " (slot entries are F32,"
                            + " BF16 or F16)");
                }
                out.add(new Item(name, e.dtype(), e.shape(), e.begin(), e.end(), t.name(), s));
            }
        }
        if (p.width > 0) {
            expected.add(TENSOR_STATE);
            Item e = byName.get(TENSOR_STATE);
            List<Long> shape = List.of((long) p.tensors.size(), (long) p.width);
            if (e == null) {
                throw new CheckpointException(file, "has no entry '" + TENSOR_STATE + "' although "
                        + KEY_TENSOR_STATE_WIDTH + " is " + p.width);
            }
            if (!e.dtype().equals("F64") || !e.shape().equals(shape)) {
                throw new CheckpointException(file, "entry '" + TENSOR_STATE + "' is " + e.dtype() + " " + e.shape()
                        + " but must be F64 " + shape);
            }
            out.add(e);
        }
        for (Item e : raw) {
            if (!expected.contains(e.name())) {
                throw new CheckpointException(file, "has entry '" + e.name() + "', which is no slot of a tensor in "
                        + KEY_TENSORS + " (slots " + p.slots + ")");
            }
        }
        out.sort(Comparator.comparingLong(Item::begin));
        return out;
    }

    private static Map<String, String> checksums(Path file, JsonNode node, List<Item> entries) {
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
        for (Item e : entries) {
            names.add(e.name());
            if (!out.containsKey(e.name())) {
                throw new CheckpointException(file, at + " has no checksum for entry '" + e.name() + "'");
            }
        }
        for (String k : new TreeSet<>(out.keySet())) {
            if (!names.contains(k)) {
                throw new CheckpointException(file, at + " names '" + k + "', which is not an entry of the file");
            }
        }
        return out;
    }
}
