package io.fusedopt.bench;

import io.fusedopt.core.FusedOptException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import java.util.function.Supplier;

/**
 * Times the steps of one optimizer configuration on a layout: builds the store and the optimizer, fills
 * parameters and gradients, runs the warm-up steps, then times each measured step from {@code step()} to the
 * end of {@code synchronize()} and keeps the median. After each step (warm-up ones included) it times one run of
 * a reference pattern ({@link BandwidthProbe}), so that the steps and the reference share one time window. Then it
 * issues as many steps back to back and times them between two events on the device's stream.
 */
public final class StepBench {
    /** Floats per slice when filling a tensor: tensors may exceed 2^31 elements and are written in pieces. */
    static final int SLICE = 1 << 20;

    private StepBench() {
    }

    /**
     * Runs {@code warmup} untimed and {@code steps} timed steps of configuration {@code optimizer} on
     * {@code layout}, each followed by one run of the probe that {@code reference} opens once the optimizer's
     * state is allocated, and frees everything it allocated.
     *
     * @throws IllegalArgumentException for an unknown configuration, {@code warmup < 0} or {@code steps < 1}
     * @throws io.fusedopt.core.FusedOptException when the device or the heap cannot hold the arena and the state
     */
    public static StepTiming run(Device device, String optimizer, ModelLayout layout, int warmup, int steps,
            Supplier<? extends BandwidthProbe> reference) {
        return run(device, optimizer, layout, warmup, steps, reference, io.fusedopt.core.Dtype.FLOAT32, false);
    }

    /**
     * As above with parameters and gradients stored in {@code dtype} and, when {@code master}, float32 master
     * weights and states (otherwise the states in {@code dtype}).
     *
     * @throws IllegalArgumentException also when {@code master} is set for float32
     */
    public static StepTiming run(Device device, String optimizer, ModelLayout layout, int warmup, int steps,
            Supplier<? extends BandwidthProbe> reference, io.fusedopt.core.Dtype dtype, boolean master) {
        if (warmup < 0 || steps < 1) {
            throw new IllegalArgumentException("need warmup >= 0 and steps >= 1, got " + warmup + " and " + steps);
        }
        var builder = BenchOptimizers.builder(optimizer);
        if (master) {
            builder.masterWeights(true);
        }
        try (ParameterStore store = layout.build(device, dtype)) {
            fill(store);
            try (Optimizer opt = builder.build(store); BandwidthProbe probe = reference.get()) {
                for (int i = 0; i < warmup; i++) {
                    opt.step();
                    opt.synchronize();
                    probe.timeOnce();
                }
                double[] ms = new double[steps];
                double[] probeSeconds = new double[steps];
                for (int i = 0; i < steps; i++) {
                    long t0 = System.nanoTime();
                    opt.step();
                    opt.synchronize();
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                    probeSeconds[i] = probe.timeOnce();
                }
                // The same number of steps again, issued back to back between two events, as torch is timed.
                double backToBack = device.backend().timeQueued(() -> {
                    for (int i = 0; i < steps; i++) {
                        opt.step();
                    }
                }) / steps;
                int perParam = Traffic.perParameter(opt.rule(), dtype,
                        master ? io.fusedopt.core.Dtype.FLOAT32 : dtype, master);
                long params = store.parameterCount();
                return new StepTiming(optimizer, device.name(), params, store.tensors().size(), perParam,
                        perParam * params, Stats.median(ms), probe.bandwidth(probeSeconds), backToBack);
            }
        }
    }

    /**
     * Writes small, varied, normal values into every parameter and gradient, slice by slice with the 64-bit
     * offset API: zeros would make some rules' arithmetic degenerate, and subnormals would slow the CPU. Used by
     * the JMH benchmarks too.
     */
    public static void fill(ParameterStore store) {
        float[] g = new float[SLICE];
        float[] w = new float[SLICE];
        int x = 0x9E3779B9;
        for (int i = 0; i < SLICE; i++) {
            // xorshift: cheap, deterministic, and no periodicity within a slice that a rule could exploit.
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            float u = (x >>> 8) * 0x1p-24f - 0.5f;
            g[i] = 1e-2f * u;
            w[i] = 0.05f + 0.1f * u;
        }
        for (var t : store.tensors()) {
            long len = t.length();
            for (long at = 0; at < len; at += SLICE) {
                int n = (int) Math.min(SLICE, len - at);
                store.writeParameters(t.name(), at, w, 0, n);
                store.writeGradients(t.name(), at, g, 0, n);
            }
        }
    }
}
