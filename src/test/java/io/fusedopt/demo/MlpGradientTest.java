package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The MLP's backward pass agrees with central finite differences of its loss, and the model is deterministic. */
class MlpGradientTest {
    private static final int BATCH = 4;

    @Test
    void backwardMatchesCentralDifferences() {
        Dataset train = Digits.split(Digits.load()).train();
        int[] batch = {3, 141, 592, 653};
        Mlp model = new Mlp(BATCH);
        for (Map.Entry<String, float[]> e : Mlp.heInit(7).entrySet()) {
            float[] values = e.getValue();
            if (e.getKey().endsWith(".bias")) {
                // Non-zero biases, so their gradients are checked away from the symmetric starting point.
                Random r = new Random(e.getKey().hashCode());
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (0.1 * r.nextGaussian());
                }
            }
            model.setParameter(e.getKey(), values);
        }
        Random pick = new Random(11);
        int checked = 0;
        int nearKinks = 0;
        for (String name : Mlp.tensorNames()) {
            // Gradients at the unperturbed parameters (every difference quotient below overwrites them).
            model.lossAndGradients(train, batch, 0, BATCH);
            float[] analytic = model.gradient(name);
            float[] params = model.parameter(name);
            int[] coords = new int[12];
            coords[0] = argMaxAbs(analytic);
            for (int c = 1; c < coords.length; c++) {
                coords[c] = pick.nextInt(params.length);
            }
            for (int i : coords) {
                double numeric = centralDifference(model, train, batch, name, params, i, 1e-3f);
                double half = centralDifference(model, train, batch, name, params, i, 5e-4f);
                // A ReLU input that crosses zero within ±h makes the loss non-smooth there, and the two step
                // sizes then disagree by far more than their noise (below); such a coordinate says nothing
                // about the backward pass, so it is skipped, and only a few may be.
                if (Math.abs(numeric - half) > 4e-4 + 2e-2 * Math.abs(numeric)) {
                    nearKinks++;
                    continue;
                }
                // Why this tolerance: the model runs in float, so each loss carries a rounding error of about
                // 2e-7 (an ulp of a loss near 2, from the float logits); divided by 2h = 2e-3 that is ~1e-4 in
                // the difference quotient, while the O(h²) truncation error is far smaller (the smooth last
                // layer agrees to 1e-5). 3e-4 absolute plus 1% relative covers the noise threefold, yet a wrong
                // factor, sign or index in the backward pass (an error of the gradient's own size) cannot pass.
                double tolerance = 3e-4 + 1e-2 * Math.abs(numeric);
                assertEquals(numeric, analytic[i], tolerance, name + "[" + i + "]");
                checked++;
            }
        }
        assertTrue(nearKinks <= 6, nearKinks + " of 72 coordinates sit at a ReLU kink; expected a handful at most");
        assertTrue(checked >= 66, "checked " + checked);
    }

    private static double centralDifference(Mlp model, Dataset data, int[] batch, String name, float[] params,
            int i, float h) {
        float[] p = params.clone();
        float plus = params[i] + h;
        float minus = params[i] - h;
        p[i] = plus;
        model.setParameter(name, p);
        double lossPlus = model.lossAndGradients(data, batch, 0, BATCH);
        p[i] = minus;
        model.setParameter(name, p);
        double lossMinus = model.lossAndGradients(data, batch, 0, BATCH);
        model.setParameter(name, params);
        // Divide by the step the floats actually took, not by the nominal 2h.
        return (lossPlus - lossMinus) / ((double) plus - (double) minus);
    }

    private static int argMaxAbs(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (Math.abs(a[i]) > Math.abs(a[best])) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void sameSeedSameInitialisationAndGradients() {
        assertArrayEquals(Mlp.heInit(3).get("fc2.weight"), Mlp.heInit(3).get("fc2.weight"));
        assertTrue(!java.util.Arrays.equals(Mlp.heInit(3).get("fc2.weight"), Mlp.heInit(4).get("fc2.weight")));
        Dataset train = Digits.split(Digits.load()).train();
        int[] batch = {0, 1, 2, 3, 4, 5, 6, 7};
        float[][] grads = new float[2][];
        for (int run = 0; run < 2; run++) {
            Mlp model = new Mlp(8);
            Mlp.heInit(3).forEach(model::setParameter);
            model.lossAndGradients(train, batch, 0, batch.length);
            grads[run] = model.gradient("fc1.weight");
        }
        assertArrayEquals(grads[0], grads[1]);
    }

    @Test
    void heInitHasTheRightSpread() {
        float[] w = Mlp.heInit(1).get("fc2.weight");
        double sumSq = 0;
        for (float v : w) {
            sumSq += (double) v * v;
        }
        // Var = 2 / fan-in = 2 / 128; 16,384 draws put the sample variance within a few percent.
        assertEquals(2.0 / 128, sumSq / w.length, 0.1 * 2.0 / 128);
        assertEquals(26_122, Mlp.parameterCount());
    }
}
