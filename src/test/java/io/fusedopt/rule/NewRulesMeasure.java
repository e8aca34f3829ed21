package io.fusedopt.rule;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Measures Adafactor and Muon on the CPU against their own floors, for the README (not a test):
 * <ul>
 *   <li>Muon: one transformer block at width 512 (four matrices and six vectors); the floor is the Newton–Schulz
 *       flops at the rate the same Java product ({@link MuonGemm}) reaches alone on a 512 × 2048 × 512 product;</li>
 *   <li>Adafactor: one 4096 × 4096 matrix; the floor is its 24 bytes per parameter at the rate AdamW reaches on
 *       the same tensor (28 bytes per parameter), the step's memory traffic at that bandwidth.</li>
 * </ul>
 * Run: {@code java -cp target/classes:target/test-classes:$(cat target/jcuda.classpath) io.fusedopt.rule.NewRulesMeasure}
 * (any class path with JCuda's jar works: the CPU backend does not load it).
 */
public final class NewRulesMeasure {
    private NewRulesMeasure() {
    }

    /** Median milliseconds of {@code steps} steps after {@code warmup}. */
    static double median(Optimizer o, int warmup, int steps) {
        for (int i = 0; i < warmup; i++) {
            o.step();
        }
        double[] ms = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            o.step();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[steps / 2];
    }

    static void fill(ParameterStore s) {
        SplittableRandom r = new SplittableRandom(1);
        for (var t : s.tensors()) {
            float[] v = new float[(int) t.length()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextDouble() * 2 - 1);
            }
            s.setParameters(t.name(), v);
            for (int i = 0; i < v.length; i++) {
                v[i] *= 0.1f;
            }
            s.setGradients(t.name(), v);
        }
    }

    /** Runs the measurements and prints one line each. */
    public static void main(String[] args) {
        try (Device cpu = Device.cpu()) {
            // Muon on one block at width 512.
            List<long[]> block = List.of(new long[] {512, 1536}, new long[] {512, 512}, new long[] {512, 2048},
                    new long[] {2048, 512}, new long[] {512}, new long[] {512}, new long[] {1536}, new long[] {512},
                    new long[] {2048}, new long[] {512});
            ParameterStore.Builder b = ParameterStore.builder();
            for (int i = 0; i < block.size(); i++) {
                b.add("t" + i, block.get(i));
            }
            double flops = 0;
            for (long[] s : block) {
                if (s.length == 2) {
                    double r = Math.min(s[0], s[1]), c = Math.max(s[0], s[1]);
                    flops += 5 * 2 * (2 * r * r * c + r * r * r);
                }
            }
            try (ParameterStore s = b.build(cpu); Optimizer o = Optimizers.named("muon").build(s);
                    Optimizer a = Optimizers.adamW().build(s)) {
                fill(s);
                double ms = median(o, 2, 7);
                double adam = median(a, 3, 11);
                float[] l = new float[512 * 2048], rr = new float[2048 * 512], out = new float[512 * 512];
                Arrays.fill(l, 0.01f);
                Arrays.fill(rr, 0.02f);
                double[] g = new double[7];
                for (int i = 0; i < g.length; i++) {
                    long t0 = System.nanoTime();
                    MuonGemm.multiply(l, 0, rr, 0, 512, 512, 2048, null, 0, 1f, 0f, out, 0);
                    g[i] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(g);
                double rate = 2.0 * 512 * 512 * 2048 / (g[3] / 1e3) / 1e9;
                double achieved = flops / (ms / 1e3) / 1e9;
                System.out.printf(Locale.ROOT, "muon  block d=512 (%d params): step %.1f ms, Newton-Schulz %.2f GFLOP"
                        + " -> %.2f GFLOP/s; product alone %.2f GFLOP/s (512x2048x512, %.1f ms): %.0f%% of the"
                        + " matmul floor; AdamW on the same tensors %.2f ms%n", s.parameterCount(), ms, flops / 1e9,
                        achieved, rate, g[3], 100 * achieved / rate, adam);
            }
            // Adafactor on one 4096 x 4096 matrix against AdamW's bandwidth on it.
            try (ParameterStore s = ParameterStore.builder().add("w", 4096, 4096).build(cpu);
                    Optimizer f = Optimizers.named("adafactor").build(s);
                    Optimizer m = Optimizers.named("adafactor").set("momentum", 0.9).build(s);
                    Optimizer a = Optimizers.adamW().build(s)) {
                fill(s);
                double af = median(f, 3, 11), afm = median(m, 3, 11), adam = median(a, 3, 11);
                double n = 4096.0 * 4096.0;
                double bw = 28 * n / (adam / 1e3) / 1e9;
                System.out.printf(Locale.ROOT, "adafactor 4096x4096: step %.1f ms (24 B/param: %.1f GB/s), with"
                        + " momentum %.1f ms (32 B/param: %.1f GB/s); AdamW %.1f ms (28 B/param: %.1f GB/s); floor at"
                        + " AdamW's bandwidth %.1f ms: %.0f%%, with momentum %.0f%%%n", af, 24 * n / (af / 1e3) / 1e9,
                        afm, 32 * n / (afm / 1e3) / 1e9, adam, bw, 24 * n / (bw * 1e9) * 1e3,
                        100 * (24 * n / (bw * 1e9) * 1e3) / af, 100 * (32 * n / (bw * 1e9) * 1e3) / afm);
            }
        }
    }
}
