package io.fusedopt.gpu;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;

/**
 * A real step on one tensor of {@code 2^31 + 5} elements (plain SGD, so it needs 2 × 8 GiB), run by
 * {@code native-build/gpu-check.sh} on a GPU: checks that the elements past index {@code 2^31} were updated, which
 * is where 32-bit index arithmetic would have wrapped or stopped. Prints one line and exits 0 when correct.
 *
 * <p>Usage: {@code java -cp fusedopt.jar:test-classes io.fusedopt.gpu.HugeTensorCheck [cuda|cpu] [elements]}.
 */
public final class HugeTensorCheck {
    private HugeTensorCheck() {
    }

    /** Runs the check; exit status 0 when every probed element moved as SGD says, 1 otherwise. */
    public static void main(String[] args) {
        String backend = args.length > 0 ? args[0] : "cuda";
        long n = args.length > 1 ? Long.parseLong(args[1]) : (1L << 31) + 5;
        float lr = 0.5f;
        try (Device d = Device.of(backend);
                ParameterStore s = ParameterStore.builder().add("huge", n).build(d);
                Optimizer opt = Optimizers.sgd().lr(lr).build(s)) {
            int slice = 1 << 24;
            float[] buf = new float[slice];
            for (long at = 0; at < n; at += slice) {
                int len = (int) Math.min(slice, n - at);
                for (int i = 0; i < len; i++) {
                    buf[i] = pattern(at + i);
                }
                s.writeGradients("huge", at, buf, 0, len);
            }
            long t0 = System.nanoTime();
            opt.step();
            opt.synchronize();
            long t1 = System.nanoTime();
            long[] probes = {0, 1, (1L << 31) - 1, 1L << 31, (1L << 31) + 1, n - 2, n - 1};
            float[] one = new float[1];
            int bad = 0;
            for (long p : probes) {
                if (p < 0 || p >= n) {
                    continue;
                }
                s.readParameters("huge", p, one, 0, 1);
                float expected = Math.fma(-lr, pattern(p), 0f);
                if (Float.floatToRawIntBits(one[0]) != Float.floatToRawIntBits(expected)) {
                    System.out.println("huge-tensor check: element " + p + " is " + one[0] + ", expected " + expected);
                    bad++;
                }
            }
            System.out.printf("huge-tensor check on %s: %d elements, step %.1f ms, %s%n", d.description(), n,
                    (t1 - t0) / 1e6, bad == 0 ? "every probed element (last: " + (n - 1) + ") updated correctly"
                            : bad + " probed elements wrong");
            System.exit(bad == 0 ? 0 : 1);
        }
    }

    /** A gradient that differs near every probed index, so a wrapped index would read the wrong one. */
    private static float pattern(long i) {
        return (float) ((i % 1021) + 1) / 1024f;
    }
}
