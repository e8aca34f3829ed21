package io.fusedopt.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrafficTest {
    /** The table of {@link Traffic}: bytes per parameter per step of each bench configuration. */
    private static final Map<String, Integer> EXPECTED = new LinkedHashMap<>();

    static {
        EXPECTED.put("sgd", 20);
        EXPECTED.put("sgd-plain", 12);
        EXPECTED.put("sgdw", 20);
        EXPECTED.put("adam", 28);
        EXPECTED.put("adamw", 28);
        EXPECTED.put("adamw-amsgrad", 36);
        EXPECTED.put("adagrad", 20);
        EXPECTED.put("radam", 28);
        EXPECTED.put("nadam", 28);
        EXPECTED.put("adabelief", 28);
        EXPECTED.put("adabound", 28);
        EXPECTED.put("amsbound", 36);
        EXPECTED.put("yogi", 28);
        EXPECTED.put("lamb", 44);
        EXPECTED.put("swats", 28);
    }

    @Test
    void everyConfigurationHasItsTableEntry() {
        assertEquals(EXPECTED.keySet().stream().toList(), BenchOptimizers.NAMES);
        try (Device cpu = Device.cpu(); ParameterStore store = ParameterStore.builder().add("x", 3).build(cpu)) {
            for (String name : BenchOptimizers.NAMES) {
                try (Optimizer opt = BenchOptimizers.builder(name).build(store)) {
                    assertEquals(EXPECTED.get(name), Traffic.perParameter(opt.rule()), name);
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
}
