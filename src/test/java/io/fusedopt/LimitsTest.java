package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fusedopt.core.CudaException;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Sizes past what a backend can hold are one clear error naming the tensor and its size, and a store or optimizer
 * whose device is closed refuses to be used, on both backends.
 */
@Tag("device")
class LimitsTest {
    private static void clearError(RuntimeException e, String tensor, long elements) {
        String m = e.getMessage();
        assertTrue(e instanceof IllegalArgumentException || e instanceof CudaException, e.toString());
        assertTrue(m.contains("'" + tensor + "'") && m.contains(Long.toString(elements)), m);
    }

    @Test
    void aTensorOf2To45ElementsIsOneClearError() {
        long n = 1L << 45;
        try (Device d = TestDevices.device()) {
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> ParameterStore.builder().add("small", 10).add("huge", n).build(d).close());
            clearError(e, "huge", n);
        }
    }

    @Test
    void aCpuArenaLargerThanTheHeapIsOneClearError() {
        long n = 1L << 33; // 32 GiB a buffer: a small chunk table, but far more than the test JVM's heap
        assumeTrue(n * Float.BYTES * 2 > Runtime.getRuntime().maxMemory(), "this JVM's heap holds 64 GiB");
        try (Device d = Device.cpu()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ParameterStore.builder().add("huge", n).build(d).close());
            clearError(e, "huge", n);
            assertTrue(e.getMessage().contains("heap"), e.getMessage());
        }
    }

    @Test
    void aTensorOfNearlyLongMaxElementsIsOneClearError() {
        long n = Long.MAX_VALUE - 63;
        try (Device d = TestDevices.device()) {
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> ParameterStore.builder().add("huge", n).build(d).close());
            clearError(e, "huge", n);
        }
        RuntimeException planned = assertThrows(RuntimeException.class,
                () -> ParameterStore.builder().add("huge", n).plan());
        clearError(planned, "huge", n);
    }

    @Test
    void aStoreAndAnOptimizerRefuseUseAfterTheirDeviceIsClosed() {
        Device d = TestDevices.device();
        ParameterStore s = ParameterStore.builder().add("w", 100).build(d);
        Optimizer o = Optimizers.adam().build(s);
        s.setGradients("w", new float[100]);
        o.step();
        d.close();
        List<Consumer<Void>> uses = List.of(
                x -> s.setParameters("w", new float[100]),
                x -> s.parameters("w"),
                x -> s.setGradients("w", new float[100]),
                x -> o.step(),
                x -> o.state("w", "exp_avg"),
                x -> o.writeState("w", "exp_avg", 0, new float[100], 0, 100),
                x -> ParameterStore.builder().add("v", 3).build(d));
        for (Consumer<Void> use : uses) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> use.accept(null));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
        o.close();
        s.close();
    }
}
