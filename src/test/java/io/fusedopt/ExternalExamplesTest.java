package io.fusedopt;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The README's two examples of tensors the caller owns, with the backward passes filled in: a CUDA store over plain
 * JCuda allocations standing in for a framework's tensors, and a CPU store over a Java model's arrays. Each trains a least-squares
 * fit of the weights to a target and must match, bit for bit, the same training on a store that holds the tensors.
 */
class ExternalExamplesTest {
    private static final int ROWS = 256;
    private static final int COLS = 64;
    private final float[] initialWeights = ramp(ROWS * COLS, 0.01f);
    private final float[] target = ramp(ROWS * COLS, -0.02f);
    private final float[] biasTarget = ramp(ROWS, 0.5f);

    private static float[] ramp(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 37) % 101 - 50) * scale;
        }
        return v;
    }

    /** The gradient of 0.5 |w - target|^2: w - target. */
    private void gradient(float[] w, float[] g) {
        for (int i = 0; i < w.length; i++) {
            g[i] = w[i] - target[i];
        }
    }

    /** The "framework's" backward pass on the device: reads w, writes g and the bias gradient in device memory. */
    private void backward(CUdeviceptr w, CUdeviceptr g, CUdeviceptr biasGrad) {
        float[] host = new float[ROWS * COLS];
        cuMemcpyDtoH(Pointer.to(host), w, 4L * host.length);
        float[] grad = new float[host.length];
        gradient(host, grad);
        cuMemcpyHtoD(g, Pointer.to(grad), 4L * grad.length);
        float[] bias = new float[ROWS];
        for (int i = 0; i < ROWS; i++) {
            bias[i] = -biasTarget[i];
        }
        cuMemcpyHtoD(biasGrad, Pointer.to(bias), 4L * ROWS);
    }

    /** The same training on a CPU store that holds both tensors: the reference. */
    private float[] reference() {
        try (Device cpu = Device.cpu();
                ParameterStore store = ParameterStore.builder().add("fc.weight", ROWS, COLS).add("fc.bias", ROWS)
                        .build(cpu);
                Optimizer opt = Optimizers.adamW().lr(1e-2).build(store)) {
            store.setParameters("fc.weight", initialWeights);
            float[] g = new float[ROWS * COLS];
            float[] bias = new float[ROWS];
            for (int i = 0; i < ROWS; i++) {
                bias[i] = -biasTarget[i];
            }
            for (int step = 0; step < 100; step++) {
                gradient(store.parameters("fc.weight"), g);
                store.setGradients("fc.weight", g);
                store.setGradients("fc.bias", bias);
                opt.step();
            }
            return store.parameters("fc.weight");
        }
    }

    @Test
    @Tag("device")
    void jcudaTensorsOfAFramework() {
        assumeTrue("cuda".equals(System.getProperty("fusedopt.device")), "a CUDA device is under test");
        float[] result = new float[ROWS * COLS];
        // From here to the end of the block: the README's CUDA example.
        try (Device device = Device.cuda()) {                          // device 0's primary context, now current
            long n = 256L * 64;
            CUdeviceptr w = new CUdeviceptr(), g = new CUdeviceptr();   // the framework's tensors
            cuMemAlloc(w, 4 * n);
            cuMemAlloc(g, 4 * n);
            cuMemcpyHtoD(w, Pointer.to(initialWeights), 4 * n);
            try (ParameterStore store = ParameterStore.builder()
                         .addExternalDevice("fc.weight", CudaPointers.address(w), CudaPointers.address(g), n, 256, 64)
                         .add("fc.bias", 256)                           // a tensor the store holds, stepped with it
                         .build(device);
                 Optimizer opt = Optimizers.adamW().lr(1e-2).build(store)) {
                for (int step = 0; step < 100; step++) {
                    backward(w, g, CudaPointers.gradients(store, "fc.bias")); // the framework writes g
                    opt.step();                                        // updates w in place: nothing is copied
                }
                opt.synchronize();
                cuMemcpyDtoH(Pointer.to(result), w, 4 * n);
                assertArrayEquals(result, store.parameters("fc.weight"), "the store reads the framework's tensor");
            }                                                          // the store never touches w or g again
            cuMemFree(w);
            cuMemFree(g);
        }
        assertArrayEquals(reference(), result, "bit for bit the training of a store that holds the tensors");
    }

    @Test
    void javaModelArrays() {
        float[] w = new float[256 * 64], g = new float[256 * 64];     // the model's weights and gradients
        System.arraycopy(initialWeights, 0, w, 0, w.length);
        double lossBefore = loss(w);
        try (Device cpu = Device.cpu();
                ParameterStore store = ParameterStore.builder().addExternal("fc.weight", w, g, 256, 64)
                        .add("fc.bias", 256).build(cpu);
                Optimizer opt = Optimizers.adamW().lr(1e-2).build(store)) {
            float[] bias = new float[ROWS];
            for (int i = 0; i < ROWS; i++) {
                bias[i] = -biasTarget[i];
            }
            for (int step = 0; step < 100; step++) {
                gradient(w, g);                                        // the model writes g
                store.setGradients("fc.bias", bias);
                opt.step();                                            // reads g and updates w, in place
            }
            assertEquals(ROWS * COLS, store.parameterCount() - ROWS);
        }
        assertTrue(loss(w) < lossBefore / 2, "the fit improved: " + loss(w) + " from " + lossBefore);
        assertArrayEquals(reference(), w, "bit for bit the training of a store that holds the tensors");
    }

    private double loss(float[] w) {
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            s += 0.5 * (w[i] - target[i]) * (w[i] - target[i]);
        }
        return s;
    }
}
