package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The MLP whose arrays are a CPU store's tensors ({@link Mlp#register}) trains exactly as one that copies its
 * parameters in from a store and its gradients out to it, and the store really is the model's memory.
 */
class MlpZeroCopyTest {
    @Test
    void registeredModelTrainsAsTheCopyingOneBitForBit() {
        Digits.Split split = Digits.split(Digits.load());
        Dataset train = split.train();
        int[] order = new int[train.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = (i * 7919) % order.length;
        }
        Map<String, float[]> init = Mlp.heInit(5);
        Mlp shared = new Mlp(32);
        Mlp copying = new Mlp(32);
        try (Device cpu = Device.cpu();
                ParameterStore zs = shared.register(ParameterStore.builder()).build(cpu);
                ParameterStore cs = Mlp.declare(ParameterStore.builder()).build(cpu);
                Optimizer zo = Optimizers.adamW().lr(1e-3).build(zs);
                Optimizer co = Optimizers.adamW().lr(1e-3).build(cs)) {
            for (Map.Entry<String, float[]> e : init.entrySet()) {
                zs.setParameters(e.getKey(), e.getValue());
                cs.setParameters(e.getKey(), e.getValue());
            }
            shared.parametersChanged();
            assertArrayEquals(init.get("fc1.weight"), shared.parameter("fc1.weight"),
                    "a write through the store lands in the model's own array");
            for (int from = 0; from + 32 <= 320; from += 32) {
                double a = shared.lossAndGradients(train, order, from, 32);
                zo.step();
                shared.parametersChanged();
                copying.loadParameters(cs);
                double b = copying.lossAndGradients(train, order, from, 32);
                copying.storeGradients(cs);
                co.step();
                assertEquals(b, a, "the same loss at batch " + from / 32);
            }
            for (String name : Mlp.tensorNames()) {
                assertArrayEquals(cs.parameters(name), shared.parameter(name), name);
                assertArrayEquals(cs.parameters(name), zs.parameters(name), name);
                assertTrue(zs.tensor(name).external(), name + " is the model's memory");
            }
        }
    }
}
