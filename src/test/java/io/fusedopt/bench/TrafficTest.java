package io.fusedopt.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrafficTest {
    /**
     * Every named configuration of every algorithm moves the bytes per parameter its description states (counted
     * by hand from its equations), as {@link Traffic} derives them from the step's passes and touched slots; bench
     * runs exactly those configurations.
     */
    @Test
    void everyConfigurationMovesTheBytesItsAlgorithmStates() {
        List<String> names = new ArrayList<>();
        try (Device cpu = Device.cpu(); ParameterStore store = ParameterStore.builder().add("x", 3).build(cpu)) {
            for (Algorithm a : Algorithms.all()) {
                for (Algorithm.Variant v : a.variants()) {
                    names.add(v.name());
                    try (Optimizer opt = BenchOptimizers.builder(v.name()).build(store)) {
                        assertEquals(v.bytesPerParameter(), Traffic.perParameter(opt.rule()), v.name());
                    }
                }
            }
        }
        assertEquals(names, BenchOptimizers.NAMES);
    }

    @Test
    void theCountsOfTheClassicRules() {
        // Spot values, counted independently of the descriptions: 4 bytes per buffer read or written.
        Map<String, Integer> expected = Map.of("sgd", 20, "sgd-plain", 12, "adamw", 28, "adamw-amsgrad", 36,
                "lamb", 44, "swats", 28);
        try (Device cpu = Device.cpu(); ParameterStore store = ParameterStore.builder().add("x", 3).build(cpu)) {
            for (Map.Entry<String, Integer> e : expected.entrySet()) {
                try (Optimizer opt = BenchOptimizers.builder(e.getKey()).build(store)) {
                    assertEquals(e.getValue(), Traffic.perParameter(opt.rule()), e.getKey());
                }
            }
        }
    }

    @Test
    void passFormulas() {
        assertEquals(12, Traffic.updatePass(0));
        assertEquals(20, Traffic.updatePass(1));
        assertEquals(28, Traffic.updatePass(2));
        assertEquals(36, Traffic.updatePass(3));
        assertEquals(16, Traffic.normPass(2));
    }

    @Test
    void sgdMeansMomentum() {
        try (Device cpu = Device.cpu(); ParameterStore store = ParameterStore.builder().add("x", 3).build(cpu);
                Optimizer sgd = BenchOptimizers.builder("sgd").build(store);
                Optimizer plain = BenchOptimizers.builder("sgd-plain").build(store)) {
            assertEquals(java.util.List.of("momentum_buffer"), sgd.slotNames());
            assertEquals(java.util.List.of(), plain.slotNames());
        }
    }

    @Test
    void sixteenBitRegimesCountEachBufferInItsOwnDtype() {
        io.fusedopt.rule.Rule adamw = Algorithms.named("adamw").create(Map.of());
        io.fusedopt.core.Dtype bf = io.fusedopt.core.Dtype.BFLOAT16, f32 = io.fusedopt.core.Dtype.FLOAT32;
        // Master weights: read g (2), master, m, v (12); write master, m, v (12) and the model copy (2).
        assertEquals(28, Traffic.perParameter(adamw, bf, f32, true));
        // Low precision: read w, g, m, v (8); write w, m, v (6).
        assertEquals(14, Traffic.perParameter(adamw, bf, bf, false));
        assertEquals(20, Traffic.perParameter(adamw, bf, bf, true));
        assertEquals(Traffic.perParameter(adamw), Traffic.perParameter(adamw, f32, f32, false));
        io.fusedopt.rule.Rule lamb = Algorithms.named("lamb").create(Map.of());
        // LAMB master: norm pass reads master, g, m, v (4 + 2 + 8), then the update (28).
        assertEquals(42, Traffic.perParameter(lamb, bf, f32, true));
    }
}
