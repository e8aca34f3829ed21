package io.fusedopt.checkpoint;

import static io.fusedopt.checkpoint.Json.abbreviate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.fusedopt.Checkpoint.TensorInfo;
import io.fusedopt.CheckpointException;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerSpec;
import io.fusedopt.core.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Whether a parsed checkpoint belongs to a live optimizer: the same rule, Lookahead, groups (names, tensors,
 * hyperparameters), schedule, tensors (names and shapes), slots and per-tensor state width. The non-finite policy
 * may differ: it only decides what happens to a future non-finite gradient.
 */
final class Matching {
    private Matching() {
    }

    /** The loading store's tensor index of each checkpoint tensor name. */
    record Matched(Map<String, Integer> liveIndex) {
    }

    /** Checks {@code p} against {@code opt}; every difference is named in one {@link CheckpointException}. */
    static Matched match(Path file, Schema.Parsed p, Optimizer opt) {
        List<String> problems = new ArrayList<>();
        JsonNode stored = p.optimizer;
        JsonNode live;
        try {
            live = Json.MAPPER.readTree(Json.MAPPER.writeValueAsString(OptimizerSpec.describe(opt)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode the optimizer description", e);
        }
        String sId = stored.get("optimizer").asText(), lId = live.get("optimizer").asText();
        if (!sId.equals(lId)) {
            problems.add("optimizer is '" + sId + "' in the checkpoint but '" + lId + "' here");
        }
        if (!same(stored.get("lookahead"), live.get("lookahead"))) {
            problems.add("Lookahead is " + render(stored.get("lookahead")) + " in the checkpoint but "
                    + render(live.get("lookahead")) + " here");
        }

        Map<String, Integer> liveIndex = new HashMap<>();
        Map<String, List<Long>> liveShapes = new LinkedHashMap<>();
        for (Tensor t : opt.store().tensors()) {
            liveIndex.put(t.name(), t.index());
            List<Long> shape = new ArrayList<>();
            for (long d : t.shape()) {
                shape.add(d);
            }
            liveShapes.put(t.name(), shape);
        }
        Map<String, List<Long>> storedShapes = new LinkedHashMap<>();
        for (TensorInfo t : p.tensors) {
            storedShapes.put(t.name(), t.shape());
        }
        List<String> missing = new ArrayList<>(), extra = new ArrayList<>();
        for (String n : liveShapes.keySet()) {
            if (!storedShapes.containsKey(n)) {
                missing.add(n);
            }
        }
        for (String n : storedShapes.keySet()) {
            if (!liveShapes.containsKey(n)) {
                extra.add(n);
            } else if (!storedShapes.get(n).equals(liveShapes.get(n))) {
                problems.add("tensor '" + n + "' has shape " + storedShapes.get(n) + " in the checkpoint but "
                        + liveShapes.get(n) + " in the store");
            }
        }
        if (!missing.isEmpty()) {
            problems.add("missing tensor(s) " + missing + ": in the store but not in the checkpoint");
        }
        if (!extra.isEmpty()) {
            problems.add("extra tensor(s) " + extra + ": in the checkpoint but not in the store");
        }

        JsonNode sg = stored.get("groups"), lg = live.get("groups");
        List<String> sNames = groupNames(sg), lNames = groupNames(lg);
        if (!sNames.equals(lNames)) {
            problems.add("parameter groups are " + sNames + " in the checkpoint but " + lNames + " here");
        } else {
            for (int g = 0; g < sNames.size(); g++) {
                String name = sNames.get(g);
                Set<String> st = new TreeSet<>(), lt = new TreeSet<>();
                sg.get(g).get("tensors").forEach(n -> st.add(n.asText()));
                lg.get(g).get("tensors").forEach(n -> lt.add(n.asText()));
                if (!st.equals(lt) && missing.isEmpty() && extra.isEmpty()) {
                    problems.add("group '" + name + "' holds tensors " + st + " in the checkpoint but " + lt + " here");
                }
                JsonNode sh = sg.get(g).get("hyperparams"), lh = lg.get(g).get("hyperparams");
                Set<String> keys = new TreeSet<>();
                sh.fieldNames().forEachRemaining(keys::add);
                lh.fieldNames().forEachRemaining(keys::add);
                for (String k : keys) {
                    if (!same(sh.get(k), lh.get(k))) {
                        problems.add("group '" + name + "' hyperparameter " + k + " is " + render(sh.get(k))
                                + " in the checkpoint but " + render(lh.get(k)) + " here");
                    }
                }
            }
        }
        if (!same(stored.get("schedule"), live.get("schedule"))) {
            problems.add("schedule is " + render(stored.get("schedule")) + " in the checkpoint but "
                    + render(live.get("schedule")) + " here");
        }
        if (problems.isEmpty() && !p.slots.equals(opt.slotNames())) {
            problems.add("state slots are " + p.slots + " in the checkpoint but " + opt.slotNames() + " here");
        }
        if (problems.isEmpty()) {
            for (Safetensors.Item e : p.entries) {
                if (e.slot() == null) {
                    continue;
                }
                String here = opt.slotDtype(e.slot()).safetensorsName();
                if (!here.equals(e.dtype())) {
                    problems.add("tensor '" + e.tensor() + "' slot '" + e.slot() + "' is " + e.dtype()
                            + " in the checkpoint but " + here + " here");
                }
            }
            // Shaped slots (Adafactor's v) have a shape per tensor that only the rule knows.
            Map<String, Safetensors.Item> byName = new HashMap<>();
            for (Safetensors.Item i : p.entries) {
                byName.put(i.name(), i);
            }
            for (TensorInfo t : p.tensors) {
                for (String s : p.slots) {
                    Safetensors.Item i = byName.get(t.name() + "." + s);
                    List<Long> want = new ArrayList<>();
                    for (long d : opt.stateShape(t.name(), s)) {
                        want.add(d);
                    }
                    if (i != null && !i.shape().equals(want)) {
                        problems.add("entry '" + i.name() + "' has shape " + i.shape() + " in the checkpoint but "
                                + want + " here");
                    }
                }
            }
        }
        if (problems.isEmpty() && p.width != opt.rule().tensorStateWidth()) {
            problems.add("per-tensor state has width " + p.width + " in the checkpoint but "
                    + opt.rule().tensorStateWidth() + " here");
        }
        if (!problems.isEmpty()) {
            throw new CheckpointException(file, "does not match this optimizer: "
                    + String.join("; ", problems));
        }
        return new Matched(liveIndex);
    }

    private static List<String> groupNames(JsonNode groups) {
        List<String> names = new ArrayList<>();
        groups.forEach(g -> names.add(g.get("name").asText()));
        return names;
    }

    /** JSON equality where numbers compare by value ({@code 1} equals {@code 1.0}) and null equals absent. */
    static boolean same(JsonNode a, JsonNode b) {
        boolean aNull = a == null || a.isNull() || a.isMissingNode();
        boolean bNull = b == null || b.isNull() || b.isMissingNode();
        if (aNull || bNull) {
            return aNull == bNull;
        }
        if (a.isNumber() && b.isNumber()) {
            return a.decimalValue().compareTo(b.decimalValue()) == 0;
        }
        if (a.isArray() && b.isArray()) {
            if (a.size() != b.size()) {
                return false;
            }
            for (int i = 0; i < a.size(); i++) {
                if (!same(a.get(i), b.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a.isObject() && b.isObject()) {
            Set<String> keys = new TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                if (!same(a.get(k), b.get(k))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    private static String render(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? "none" : abbreviate(n.toString());
    }
}
