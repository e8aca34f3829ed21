package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same optimizer state saved in separate JVM runs gives byte-identical files, for every configuration of
 * every algorithm: nothing in a checkpoint depends on hash order, time or the run.
 */
class ReproducibleCheckpointTest {
    /** Builds every configuration with two groups, takes three steps, and saves each into {@code args[0]}. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        try (Device cpu = Device.cpu();
                ParameterStore store = ParameterStore.builder().add("w", 3, 5).add("b", 5).build(cpu)) {
            for (Algorithm a : Algorithms.all()) {
                for (Algorithm.Variant v : a.variants()) {
                    OptimizerBuilder<?> b = Optimizers.of(a);
                    v.settings().forEach(b::set);
                    b.group("bias", g -> g.lr(a.values(v.settings(), "").number("lr") / 2), "b");
                    store.setParameters("w", ramp(15, 0.1f));
                    store.setParameters("b", ramp(5, -0.2f));
                    try (Optimizer opt = b.build(store)) {
                        for (int s = 1; s <= 3; s++) {
                            store.setGradients("w", ramp(15, 0.01f * s));
                            store.setGradients("b", ramp(5, -0.02f * s));
                            opt.step();
                        }
                        opt.saveState(dir.resolve(v.name() + ".safetensors"));
                    }
                }
            }
        }
    }

    private static float[] ramp(int n, float scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = scale * (i - n / 3f);
        }
        return x;
    }

    private static void runJvm(Path dir) throws Exception {
        Files.createDirectories(dir);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                ReproducibleCheckpointTest.class.getName(), dir.toString()).inheritIO().start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the saving JVM did not finish in 120 s");
        }
        assertEquals(0, p.exitValue(), "the saving JVM failed");
    }

    @Test
    void separateJvmRunsWriteTheSameBytes(@TempDir Path tmp) throws Exception {
        // Three runs: a hash-ordered map gives the same order in two runs often enough to hide behind luck.
        runJvm(tmp.resolve("first"));
        runJvm(tmp.resolve("second"));
        runJvm(tmp.resolve("third"));
        List<String> names = new ArrayList<>();
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                names.add(v.name());
            }
        }
        for (String n : names) {
            byte[] first = Files.readAllBytes(tmp.resolve("first").resolve(n + ".safetensors"));
            byte[] second = Files.readAllBytes(tmp.resolve("second").resolve(n + ".safetensors"));
            byte[] third = Files.readAllBytes(tmp.resolve("third").resolve(n + ".safetensors"));
            assertArrayEquals(first, second, n + ": the first two runs' checkpoints differ");
            assertArrayEquals(first, third, n + ": the first and third runs' checkpoints differ");
        }
    }
}
