package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.core.Dtype;
import io.fusedopt.golden.GoldenRunner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints keep every buffer in its own dtype, master weights included, and refuse a dtype mismatch by name. */
class MixedPrecisionCheckpointTest {
    @TempDir
    Path dir;

    private static ParameterStore store(Device d) {
        return ParameterStore.builder().dtype(Dtype.BFLOAT16).add("w", 7, 9).add("b", 70).build(d);
    }

    private static void grads(ParameterStore s, Random r) {
        for (var t : s.tensors()) {
            float[] g = new float[(int) t.length()];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) r.nextGaussian() * 0.1f;
            }
            s.setGradients(t.name(), g);
        }
    }

    private static JsonNode header(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
    }

    private void resumes(Function<ParameterStore, Optimizer> make, String slot, String dtype) throws Exception {
        Path file = dir.resolve(slot + dtype + ".safetensors");
        try (Device cpu = Device.cpu(); ParameterStore a = store(cpu); ParameterStore b = store(cpu)) {
            Random r = new Random(4);
            for (var t : a.tensors()) {
                float[] w = new float[(int) t.length()];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) r.nextGaussian();
                }
                a.setParameters(t.name(), w);
                b.setParameters(t.name(), w);
            }
            try (Optimizer oa = make.apply(a)) {
                grads(a, r);
                oa.step();
                grads(a, r);
                oa.step();
                oa.saveState(file);
                assertEquals(dtype, header(file).get("w." + slot).get("dtype").asText());
                try (Optimizer ob = make.apply(b)) {
                    ob.loadState(file);
                    for (var t : a.tensors()) {
                        b.setParameters(t.name(), a.parameters(t.name()));
                    }
                    for (int k = 0; k < 3; k++) {
                        long seed = 100 + k;
                        grads(a, new Random(seed));
                        grads(b, new Random(seed));
                        oa.step();
                        ob.step();
                        assertNull(GoldenRunner.firstDifference(oa, ob), "after resuming, step " + (k + 1));
                    }
                }
            }
        }
    }

    @Test
    void lowPrecisionStatesAreStoredAsBf16AndResumeExactly() throws Exception {
        resumes(s -> Optimizers.adamW().build(s), "exp_avg_sq", "BF16");
    }

    @Test
    void masterWeightsAreStoredAsF32AndResumeExactly() throws Exception {
        resumes(s -> Optimizers.adamW().masterWeights(true).build(s), "master", "F32");
        resumes(s -> Optimizers.adamW().masterWeights(true).stateDtype(Dtype.BFLOAT16).build(s), "exp_avg", "BF16");
    }

    @Test
    void aDtypeMismatchIsRefusedNamingTensorSlotAndBothDtypes() {
        Path file = dir.resolve("f32states.safetensors");
        try (Device cpu = Device.cpu(); ParameterStore a = store(cpu); ParameterStore b = store(cpu);
                Optimizer oa = Optimizers.adamW().masterWeights(true).build(a);
                Optimizer ob = Optimizers.adamW().masterWeights(true).stateDtype(Dtype.BFLOAT16).build(b)) {
            grads(a, new Random(1));
            oa.step();
            oa.saveState(file);
            float[] before = ob.state("w", "exp_avg");
            CheckpointException e = assertThrows(CheckpointException.class, () -> ob.loadState(file));
            assertTrue(e.getMessage().contains("tensor 'w' slot 'exp_avg' is F32 in the checkpoint but BF16 here"),
                    e.getMessage());
            assertEquals(java.util.Arrays.toString(before), java.util.Arrays.toString(ob.state("w", "exp_avg")));
        }
    }
}
