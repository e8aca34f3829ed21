package io.fusedopt.demo;

import io.fusedopt.ParameterStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The demo's classifier: a 64→128→128→10 multi-layer perceptron with ReLU between the layers and a softmax
 * cross-entropy loss, forward and backward in plain Java on {@code float[]}.
 *
 * <p>Layer {@code l} has tensors {@code fc<l>.weight} of shape {@code [out, in]} (PyTorch's layout) and
 * {@code fc<l>.bias} of shape {@code [out]}. The model's own arrays can be a CPU store's tensors
 * ({@link #register(ParameterStore.Builder)}): the optimizer step then updates the weights the model computes with
 * and reads the gradients where the backward pass wrote them, with no copy either way, and
 * {@link #parametersChanged()} only refreshes the model's transposed weights. For a store that holds the tensors
 * itself (any device), {@link #loadParameters(ParameterStore)} copies the parameters in and
 * {@link #storeGradients(ParameterStore)} copies the gradients out.
 *
 * <p>Every result is a deterministic function of the parameters and the batch: all sums run single-threaded in a
 * fixed order. An instance is not thread-safe.
 */
public final class Mlp {
    /** The layer widths, input first. */
    private static final int[] WIDTHS = {Dataset.FEATURES, 128, 128, Dataset.CLASSES};
    private static final int LAYERS = WIDTHS.length - 1;

    private final int maxBatch;
    private final float[][] w = new float[LAYERS][];
    private final float[][] b = new float[LAYERS][];
    // w[l] transposed to [in, out], so the forward product walks contiguous rows in its innermost loop.
    private final float[][] wt = new float[LAYERS][];
    private final float[][] gw = new float[LAYERS][];
    private final float[][] gb = new float[LAYERS][];
    // act[0] is the input batch, act[l] the output of layer l (after ReLU except for the logits).
    private final float[][] act = new float[LAYERS + 1][];
    // delta[l]: dLoss/d(pre-activation of layer l+1's output), one row per sample.
    private final float[][] delta = new float[LAYERS][];

    /**
     * A model with zero parameters and room for batches of up to {@code maxBatch} samples; evaluation runs in
     * chunks of that size.
     *
     * @throws IllegalArgumentException when {@code maxBatch < 1}
     */
    public Mlp(int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be >= 1, got " + maxBatch);
        }
        this.maxBatch = maxBatch;
        for (int l = 0; l < LAYERS; l++) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            w[l] = new float[out * in];
            wt[l] = new float[in * out];
            gw[l] = new float[out * in];
            b[l] = new float[out];
            gb[l] = new float[out];
            delta[l] = new float[maxBatch * out];
        }
        for (int l = 0; l <= LAYERS; l++) {
            act[l] = new float[maxBatch * WIDTHS[l]];
        }
    }

    /** The largest batch {@link #lossAndGradients} accepts. */
    public int maxBatch() {
        return maxBatch;
    }

    /** The tensor names in declaration order: {@code fc1.weight, fc1.bias, fc2.weight, …}. */
    public static List<String> tensorNames() {
        List<String> names = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) {
            names.add(weightName(l));
            names.add(biasName(l));
        }
        return Collections.unmodifiableList(names);
    }

    /** The bias tensor names, which the demo exempts from weight decay. */
    public static List<String> biasNames() {
        List<String> names = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) {
            names.add(biasName(l));
        }
        return Collections.unmodifiableList(names);
    }

    /** The number of parameters (weights and biases). */
    public static int parameterCount() {
        int n = 0;
        for (int l = 0; l < LAYERS; l++) {
            n += WIDTHS[l + 1] * (WIDTHS[l] + 1);
        }
        return n;
    }

    /** Adds the model's tensors, with their shapes, to a store builder; returns the builder. */
    public static ParameterStore.Builder declare(ParameterStore.Builder builder) {
        for (int l = 0; l < LAYERS; l++) {
            builder.add(weightName(l), WIDTHS[l + 1], WIDTHS[l]);
            builder.add(biasName(l), WIDTHS[l + 1]);
        }
        return builder;
    }

    /**
     * He (Kaiming normal) initial parameters for {@code seed}: weights drawn from N(0, 2 / fan-in), biases zero,
     * keyed by tensor name in declaration order. The same seed always gives the same values.
     */
    public static Map<String, float[]> heInit(long seed) {
        // java.util.Random's nextGaussian is specified exactly, so the values are the same on every JVM.
        Random random = new Random(seed);
        Map<String, float[]> init = new LinkedHashMap<>();
        for (int l = 0; l < LAYERS; l++) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            double std = Math.sqrt(2.0 / in);
            float[] weights = new float[out * in];
            for (int i = 0; i < weights.length; i++) {
                weights[i] = (float) (random.nextGaussian() * std);
            }
            init.put(weightName(l), weights);
            init.put(biasName(l), new float[out]);
        }
        return init;
    }

    /**
     * Registers the model's own parameter and gradient arrays with a CPU store builder as external tensors, with
     * the shapes and names of {@link #declare}; returns the builder. A store built from it shares the model's
     * memory: after each optimizer step call {@link #parametersChanged()}; nothing is copied. The model must
     * outlive the store.
     */
    public ParameterStore.Builder register(ParameterStore.Builder builder) {
        for (int l = 0; l < LAYERS; l++) {
            builder.addExternal(weightName(l), w[l], gw[l], WIDTHS[l + 1], WIDTHS[l]);
            builder.addExternal(biasName(l), b[l], gb[l], WIDTHS[l + 1]);
        }
        return builder;
    }

    /**
     * Tells the model that its parameters changed in place (an optimizer step, or a write through a store built by
     * {@link #register}): refreshes the transposed weights the forward pass reads.
     */
    public void parametersChanged() {
        for (int l = 0; l < LAYERS; l++) {
            transpose(l);
        }
    }

    /** Reads every parameter from {@code store}; rejects a store without the model's tensors. */
    public void loadParameters(ParameterStore store) {
        for (int l = 0; l < LAYERS; l++) {
            store.readParameters(weightName(l), 0, w[l], 0, w[l].length);
            store.readParameters(biasName(l), 0, b[l], 0, b[l].length);
            transpose(l);
        }
    }

    /** Writes the gradients of the last {@link #lossAndGradients} call into {@code store}. */
    public void storeGradients(ParameterStore store) {
        for (int l = 0; l < LAYERS; l++) {
            store.writeGradients(weightName(l), 0, gw[l], 0, gw[l].length);
            store.writeGradients(biasName(l), 0, gb[l], 0, gb[l].length);
        }
    }

    /** Sets one tensor's parameters; rejects an unknown name or an array of the wrong length. */
    public void setParameter(String name, float[] values) {
        float[] dst = tensor(name, w, b);
        if (values.length != dst.length) {
            throw new IllegalArgumentException(name + " has " + dst.length + " elements, got " + values.length);
        }
        System.arraycopy(values, 0, dst, 0, dst.length);
        transpose(layerOf(name));
    }

    /** A copy of one tensor's parameters; rejects an unknown name. */
    public float[] parameter(String name) {
        return tensor(name, w, b).clone();
    }

    /** A copy of one tensor's gradient from the last {@link #lossAndGradients} call; rejects an unknown name. */
    public float[] gradient(String name) {
        return tensor(name, gw, gb).clone();
    }

    /**
     * The mean cross-entropy of the samples {@code indices[from..from+count)} of {@code data}, with the gradients
     * of that mean left in the model for {@link #storeGradients} and {@link #gradient}.
     *
     * @throws IllegalArgumentException when {@code count} is not in {@code [1, maxBatch()]}
     */
    public double lossAndGradients(Dataset data, int[] indices, int from, int count) {
        checkCount(count);
        data.gather(indices, from, count, act[0]);
        forward(count);
        double loss = 0;
        float[] logits = act[LAYERS];
        float[] d = delta[LAYERS - 1];
        float scale = 1f / count;
        for (int r = 0; r < count; r++) {
            int o = r * Dataset.CLASSES;
            int y = data.label(indices[from + r]);
            float max = logits[o];
            for (int j = 1; j < Dataset.CLASSES; j++) {
                max = Math.max(max, logits[o + j]);
            }
            // Softmax in double: it costs nothing at ten classes and keeps the loss accurate enough for
            // finite-difference checks of the float gradients. StrictMath, because Math.exp may differ by an ulp
            // between JVMs and CPUs, and a seed must give the same run everywhere.
            double sum = 0;
            for (int j = 0; j < Dataset.CLASSES; j++) {
                sum += StrictMath.exp(logits[o + j] - max);
            }
            loss += StrictMath.log(sum) - (logits[o + y] - max);
            for (int j = 0; j < Dataset.CLASSES; j++) {
                double p = StrictMath.exp(logits[o + j] - max) / sum;
                d[o + j] = (float) (p - (j == y ? 1 : 0)) * scale;
            }
        }
        backward(count);
        return loss / count;
    }

    /** Mean loss and accuracy of the model on a whole data set. */
    public record Evaluation(double loss, double accuracy) {
    }

    /** The mean cross-entropy and the share of correctly classified samples of {@code data}; rejects an empty set. */
    public Evaluation evaluate(Dataset data) {
        if (data.size() == 0) {
            throw new IllegalArgumentException("cannot evaluate on an empty data set");
        }
        int[] all = new int[data.size()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        double loss = 0;
        int correct = 0;
        float[] logits = act[LAYERS];
        for (int from = 0; from < all.length; from += maxBatch) {
            int count = Math.min(maxBatch, all.length - from);
            data.gather(all, from, count, act[0]);
            forward(count);
            for (int r = 0; r < count; r++) {
                int o = r * Dataset.CLASSES;
                int best = 0;
                float max = logits[o];
                for (int j = 1; j < Dataset.CLASSES; j++) {
                    if (logits[o + j] > max) {
                        max = logits[o + j];
                        best = j;
                    }
                }
                double sum = 0;
                for (int j = 0; j < Dataset.CLASSES; j++) {
                    sum += StrictMath.exp(logits[o + j] - max);
                }
                int y = data.label(from + r);
                loss += StrictMath.log(sum) - (logits[o + y] - max);
                if (best == y) {
                    correct++;
                }
            }
        }
        return new Evaluation(loss / all.length, (double) correct / all.length);
    }

    // The three products below run with the weight row in the outer loop and the batch inside it: one weight row
    // (at most 512 bytes) and the batch's rows (16 KB at batch 32) then stay in the L1 cache, where batch-outer
    // order would stream the whole matrix through it once per sample. Each output element still sums its terms
    // in the same ascending order, so the loop order does not change a single bit of the result.

    private void forward(int rows) {
        for (int l = 0; l < LAYERS; l++) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            float[] x = act[l], y = act[l + 1], wtl = wt[l];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(b[l], 0, y, r * out, out);
            }
            // y[r, :] += x[r, k] * wt[k, :]: the inner loop is an axpy over contiguous rows, which the JIT
            // vectorises.
            for (int k = 0; k < in; k++) {
                int wo = k * out;
                for (int r = 0; r < rows; r++) {
                    float xv = x[r * in + k];
                    if (xv == 0f) {
                        continue; // ReLU outputs and blank pixels are often exactly zero
                    }
                    int yo = r * out;
                    for (int j = 0; j < out; j++) {
                        y[yo + j] += xv * wtl[wo + j];
                    }
                }
            }
            if (l < LAYERS - 1) {
                // A NaN passes through (as in PyTorch), so a diverging optimizer shows up in the loss.
                for (int j = 0; j < rows * out; j++) {
                    if (y[j] < 0f) {
                        y[j] = 0f;
                    }
                }
            }
        }
    }

    private void backward(int rows) {
        for (int l = LAYERS - 1; l >= 0; l--) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            float[] x = act[l], d = delta[l], gwl = gw[l], gbl = gb[l], wl = w[l];
            // gw[o, :] = sum over r of d[r, o] * x[r, :]; gb[o] = sum over r of d[r, o].
            for (int o = 0; o < out; o++) {
                int wo = o * in;
                Arrays.fill(gwl, wo, wo + in, 0f);
                float bias = 0f;
                for (int r = 0; r < rows; r++) {
                    float g = d[r * out + o];
                    if (g == 0f) {
                        continue; // units the ReLU switched off pass no gradient
                    }
                    bias += g;
                    int xo = r * in;
                    for (int i = 0; i < in; i++) {
                        gwl[wo + i] += g * x[xo + i];
                    }
                }
                gbl[o] = bias;
            }
            if (l == 0) {
                break; // no one needs the gradient with respect to the pixels
            }
            // dPrev[r, :] = sum over o of d[r, o] * w[o, :], then masked by ReLU's derivative.
            float[] dPrev = delta[l - 1];
            Arrays.fill(dPrev, 0, rows * in, 0f);
            for (int o = 0; o < out; o++) {
                int wo = o * in;
                for (int r = 0; r < rows; r++) {
                    float g = d[r * out + o];
                    if (g == 0f) {
                        continue;
                    }
                    int po = r * in;
                    for (int i = 0; i < in; i++) {
                        dPrev[po + i] += g * wl[wo + i];
                    }
                }
            }
            // act > 0 exactly where the pre-activation was positive.
            for (int i = 0; i < rows * in; i++) {
                if (!(x[i] > 0f)) {
                    dPrev[i] = 0f;
                }
            }
        }
    }

    private void transpose(int l) {
        int in = WIDTHS[l], out = WIDTHS[l + 1];
        float[] src = w[l], dst = wt[l];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                dst[i * out + o] = src[o * in + i];
            }
        }
    }

    private void checkCount(int count) {
        if (count < 1 || count > maxBatch) {
            throw new IllegalArgumentException("batch size must be in [1, " + maxBatch + "], got " + count);
        }
    }

    private static String weightName(int l) {
        return "fc" + (l + 1) + ".weight";
    }

    private static String biasName(int l) {
        return "fc" + (l + 1) + ".bias";
    }

    private static int layerOf(String name) {
        for (int l = 0; l < LAYERS; l++) {
            if (name.equals(weightName(l)) || name.equals(biasName(l))) {
                return l;
            }
        }
        throw new IllegalArgumentException("unknown tensor '" + name + "'; known: " + tensorNames());
    }

    private static float[] tensor(String name, float[][] weights, float[][] biases) {
        int l = layerOf(name);
        return name.endsWith(".weight") ? weights[l] : biases[l];
    }
}
