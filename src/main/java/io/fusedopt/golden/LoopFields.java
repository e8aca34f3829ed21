package io.fusedopt.golden;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The training-loop fields of a format-2 case (FORMAT.md, "Global-norm clipping" and "Dynamic loss scaling"):
 * {@code clip}, {@code loss_scale}, and per step the non-finite elements to plant, whether the step is skipped and
 * the scale after it. {@link #parse} checks each and names the field it rejects.
 *
 * @param maxNorm {@code clip.max_norm}, or 0 without clipping
 * @param initScale {@code loss_scale.init_scale}, or 0 without loss scaling
 * @param growthFactor {@code loss_scale.growth_factor}
 * @param backoffFactor {@code loss_scale.backoff_factor}
 * @param growthInterval {@code loss_scale.growth_interval}
 * @param nonFinite per step, the elements to replace: tensor, flat index, and the value (+inf, -inf or NaN)
 * @param skipped per step, {@code steps[j].skipped} (loss scaling only)
 * @param scale per step, {@code steps[j].scale} (loss scaling only)
 */
public record LoopFields(double maxNorm, double initScale, double growthFactor, double backoffFactor,
        int growthInterval, List<List<Plant>> nonFinite, List<Boolean> skipped, List<Float> scale) {

    /** One non-finite element planted into a step's gradients. */
    public record Plant(int tensor, int index, float value) {
    }

    /** Whether the case clips. */
    public boolean clips() {
        return maxNorm > 0;
    }

    /** Whether the case scales the loss. */
    public boolean scalesLoss() {
        return initScale > 0;
    }

    /**
     * The loop fields of a case, or null when it has neither {@code clip} nor {@code loss_scale}.
     *
     * @param sizes the element count of each tensor, to check the planted indices
     * @throws GoldenFormatException naming the field and the problem
     */
    static LoopFields parse(String file, JsonNode root, int[] sizes) throws GoldenFormatException {
        JsonNode clip = root.get("clip");
        JsonNode ls = root.get("loss_scale");
        boolean hasClip = clip != null && !clip.isNull();
        boolean hasScale = ls != null && !ls.isNull();
        if (!hasClip && !hasScale) {
            return null;
        }
        double maxNorm = 0;
        if (hasClip) {
            maxNorm = positive(file, clip, "max_norm", "clip.max_norm");
            JsonNode type = clip.get("norm_type");
            if (type != null && !type.isNull() && type.asDouble() != 2) {
                throw new GoldenFormatException(file, "clip.norm_type", "only the L2 norm (2) is defined, got " + type);
            }
        }
        double init = 0, growth = 0, backoff = 0;
        int interval = 0;
        JsonNode steps = root.get("steps");
        List<List<Plant>> plants = new ArrayList<>();
        List<Boolean> skipped = new ArrayList<>();
        List<Float> scale = new ArrayList<>();
        if (hasScale) {
            init = positive(file, ls, "init_scale", "loss_scale.init_scale");
            growth = positive(file, ls, "growth_factor", "loss_scale.growth_factor");
            backoff = positive(file, ls, "backoff_factor", "loss_scale.backoff_factor");
            JsonNode gi = ls.get("growth_interval");
            if (gi == null || !gi.isIntegralNumber() || gi.asInt() < 1) {
                throw new GoldenFormatException(file, "loss_scale.growth_interval", "must be a whole number >= 1, got "
                        + gi);
            }
            interval = gi.asInt();
            for (int s = 0; s < steps.size(); s++) {
                String p = "steps[" + s + "]";
                JsonNode st = steps.get(s);
                List<Plant> list = new ArrayList<>();
                JsonNode nf = st.get("nonfinite");
                if (nf != null && !nf.isNull()) {
                    if (!nf.isArray()) {
                        throw new GoldenFormatException(file, p + ".nonfinite", "must be an array");
                    }
                    for (int i = 0; i < nf.size(); i++) {
                        list.add(plant(file, nf.get(i), p + ".nonfinite[" + i + "]", sizes));
                    }
                }
                plants.add(List.copyOf(list));
                JsonNode sk = st.get("skipped");
                if (sk == null || !sk.isBoolean()) {
                    throw new GoldenFormatException(file, p + ".skipped", "must be true or false, got " + sk);
                }
                skipped.add(sk.asBoolean());
                JsonNode sc = st.get("scale");
                if (sc == null || !sc.isNumber() || !(sc.asDouble() > 0)) {
                    throw new GoldenFormatException(file, p + ".scale", "must be a number > 0, got " + sc);
                }
                scale.add((float) sc.asDouble());
            }
        }
        return new LoopFields(maxNorm, init, growth, backoff, interval, List.copyOf(plants), List.copyOf(skipped),
                List.copyOf(scale));
    }

    private static double positive(String file, JsonNode parent, String key, String path)
            throws GoldenFormatException {
        JsonNode n = parent.get(key);
        if (n == null || !n.isNumber() || !(n.asDouble() > 0) || !Double.isFinite(n.asDouble())) {
            throw new GoldenFormatException(file, path, "must be a finite number > 0, got " + n);
        }
        return n.asDouble();
    }

    private static Plant plant(String file, JsonNode e, String path, int[] sizes) throws GoldenFormatException {
        if (e == null || !e.isArray() || e.size() != 3 || !e.get(0).isIntegralNumber() || !e.get(1).isIntegralNumber()
                || !e.get(2).isTextual()) {
            throw new GoldenFormatException(file, path, "must be [tensor, flat index, \"inf\" | \"-inf\" | \"nan\"],"
                    + " got " + e);
        }
        int t = e.get(0).asInt();
        int i = e.get(1).asInt();
        if (t < 0 || t >= sizes.length || i < 0 || i >= sizes[t]) {
            throw new GoldenFormatException(file, path, "names element " + i + " of tensor " + t
                    + ", which the case does not have");
        }
        float v = switch (e.get(2).asText()) {
            case "inf" -> Float.POSITIVE_INFINITY;
            case "-inf" -> Float.NEGATIVE_INFINITY;
            case "nan" -> Float.NaN;
            default -> throw new GoldenFormatException(file, path + "[2]", "must be \"inf\", \"-inf\" or \"nan\", got "
                    + e.get(2));
        };
        return new Plant(t, i, v);
    }
}
