package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.ParameterStore;
import io.fusedopt.emu.StandIn;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The device-resident demo model under the CPU stand-in for the driver (and its stand-in cuBLAS): it computes the
 * host {@link Mlp}'s loss and gradients, trains to well above chance, leaks nothing, and its kernels' PTX
 * signatures are what {@link DeviceMlp} launches.
 */
@Tag("cuda-emu")
class DeviceMlpTest {
    private static final int BATCH = 24;
    private long baseline = -1;

    @BeforeEach
    void standInWithCublas() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
        Path dir = StandIn.directory();
        assertNotNull(dir, "the stand-in directory is unknown");
        // The only reason to skip: the stand-in cuBLAS has not been built into the stand-in directory.
        Assumptions.assumeTrue(Files.exists(dir.resolve("libcublas.so.12")),
                () -> "no stand-in libcublas.so.12 in " + dir + ": the device-resident demo path needs cuBLAS");
        baseline = StandIn.liveAllocations();
    }

    @AfterEach
    void nothingLeaked() {
        if (baseline < 0) {
            return; // skipped before the baseline was taken
        }
        assertEquals(baseline, StandIn.liveAllocations(), "device allocations left behind");
    }

    @Test
    void forwardAndBackwardMatchTheHostModel() {
        Dataset train = Digits.split(Digits.load()).train();
        int[] picked = new int[BATCH];
        Random r = new Random(5);
        for (int i = 0; i < BATCH; i++) {
            picked[i] = r.nextInt(train.size());
        }
        Dataset batch = train.subset(picked);
        int[] identity = new int[BATCH];
        for (int i = 0; i < BATCH; i++) {
            identity[i] = i;
        }
        Mlp host = new Mlp(BATCH);
        try (Device cuda = Device.cuda();
                ParameterStore store = Mlp.declare(ParameterStore.builder()).build(cuda)) {
            for (Map.Entry<String, float[]> e : Mlp.heInit(7).entrySet()) {
                float[] values = e.getValue();
                if (e.getKey().endsWith(".bias")) {
                    Random b = new Random(e.getKey().hashCode());
                    for (int i = 0; i < values.length; i++) {
                        values[i] = (float) (0.1 * b.nextGaussian());
                    }
                }
                host.setParameter(e.getKey(), values);
                store.setParameters(e.getKey(), values);
            }
            double hostLoss = host.lossAndGradients(batch, identity, 0, BATCH);
            DeviceMlp.Tally tally;
            try (DeviceMlp device = new DeviceMlp(store, BATCH)) {
                DeviceMlp.Data data = device.upload(batch);
                device.trainStep(data, 0, BATCH);
                tally = device.takeTally();
            }
            // Tolerances: both sides run in float, with different summation orders (cuBLAS's, the host's
            // ascending loops) and a float softmax on the device against a double one on the host. Each sum has
            // at most 128 terms, so the results differ by a few ulps of the largest magnitude involved: 1e-5 of a
            // tensor's largest gradient (plus 1e-8 absolute) covers that many times over, while a wrong index,
            // transpose or mask changes gradients by their own size. (Under the stand-in the worst element differs
            // by 4e-7 of its tensor's largest gradient, the mean loss by 3e-8.)
            assertEquals(hostLoss, tally.lossSum() / BATCH, 1e-5, "mean loss");
            for (String name : Mlp.tensorNames()) {
                float[] h = host.gradient(name);
                float[] d = store.gradients(name);
                double max = 0;
                for (float v : h) {
                    max = Math.max(max, Math.abs(v));
                }
                assertTrue(max > 0, name + " has an all-zero host gradient");
                double tol = 1e-5 * max + 1e-8;
                for (int i = 0; i < h.length; i++) {
                    assertEquals(h[i], d[i], tol, name + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void shortAdamRunLearns() {
        Digits.Split split = Digits.split(Digits.load());
        Trainer trainer = new Trainer(split, 2, Trainer.DEFAULT_BATCH_SIZE, 42);
        try (Device cuda = Device.cuda()) {
            RunResult result = trainer.train(cuda, OptimizerChoice.ADAM, ScheduleChoice.CONSTANT, null);
            assertEquals(3, result.curve().size());
            assertEquals(2 * trainer.stepsPerEpoch(), result.steps());
            // Chance is 10%; two epochs of Adam reach about 90% on the host path.
            assertTrue(result.testAccuracy() > 0.8, "test accuracy " + result.testAccuracy());
            assertTrue(result.finalTrainLoss() < result.curve().get(0).trainLoss(), "the loss did not fall");
        }
    }

    @Test
    void demoKernelSignaturesMatchTheLaunches() throws Exception {
        byte[] ptx = DeviceMlp.resource("demo.ptx", false);
        assertNotNull(ptx, "demo.ptx is missing");
        String text = new String(ptx, StandardCharsets.US_ASCII);
        Matcher m = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)").matcher(text);
        List<String> entries = new ArrayList<>();
        List<String> signatures = new ArrayList<>();
        while (m.find()) {
            entries.add(m.group(1));
            StringBuilder kinds = new StringBuilder();
            for (String p : m.group(2).split(",")) {
                String t = p.trim().split("\\s+")[1];
                kinds.append(t.equals(".u64") ? 'p' : t.equals(".u32") ? 'i' : t.equals(".f32") ? 'f' : '?');
            }
            signatures.add(m.group(1) + ":" + kinds);
        }
        assertEquals(new TreeSet<>(DeviceMlp.ENTRIES), new TreeSet<>(entries));
        // p: pointer, i: int, f: float; the launches in DeviceMlp pass exactly these.
        assertEquals(new TreeSet<>(List.of(
                "demo_gather:pppiipp",
                "demo_bias_act:ppiii",
                "demo_relu_backward:ppi",
                "demo_softmax_xent:ppiifpp",
                "demo_bias_grad:piip",
                "demo_tally:pppiipp")), new TreeSet<>(signatures));
    }
}
