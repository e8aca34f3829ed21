package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every builder and the store reject bad input with a message naming the argument and the value. */
class ValidationTest {
    private Device device;
    private ParameterStore store;

    @BeforeEach
    void open() {
        device = Device.cpu();
        store = ParameterStore.builder().add("w", 4, 3).add("b", 4).build(device);
    }

    @AfterEach
    void close() {
        store.close();
        device.close();
    }

    static Stream<Arguments> badBuilders() {
        return Stream.of(
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().lr(-1), "lr must be finite and >= 0, got -1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().lr(Double.NaN), "lr must be finite and >= 0, got NaN"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().lr(Double.POSITIVE_INFINITY), "lr must be finite and >= 0, got Infinity"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().betas(1.0, 0.999), "beta1 must be in [0, 1), got 1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().betas(0.9, -0.1), "beta2 must be in [0, 1), got -0.1"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().eps(0), "eps must be finite and > 0, got 0.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.lamb().eps(-1e-8), "eps must be finite and > 0, got -1.0E-8"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().weightDecay(-0.1), "weightDecay must be finite and >= 0, got -0.1"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.sgd().momentum(1.0), "momentum must be in [0, 1), got 1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.sgd().momentum(0.9).dampening(1.5), "dampening must be in [0, 1], got 1.5"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.sgd().nesterov(true), "nesterov needs momentum > 0 and dampening = 0, got momentum 0.0 and dampening 0.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().lookahead(0, 0.5), "lookahead k must be >= 1, got 0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().lookahead(5, 0.0), "lookahead alpha must be in (0, 1], got 0.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().lookahead(5, 1.5), "lookahead alpha must be in (0, 1], got 1.5"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adagrad().lrDecay(-1), "lrDecay must be finite and >= 0, got -1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adagrad().initialAccumulatorValue(Double.NaN), "initialAccumulatorValue must be finite and >= 0, got NaN"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.nadam().momentumDecay(-0.004), "momentumDecay must be finite and >= 0, got -0.004"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adaBound().gamma(0), "gamma must be finite and > 0, got 0.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adaBound().finalLr(-0.1), "finalLr must be finite and >= 0, got -0.1"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.yogi().initialAccumulator(-1), "initialAccumulator must be finite and >= 0, got -1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.swats().betas(0.9, 1.0), "beta2 must be in [0, 1), got 1.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adaBelief().eps(Double.NaN), "eps must be finite and > 0, got NaN"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.radam().betas(-0.5, 0.9), "beta1 must be in [0, 1), got -0.5"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().group("g", b -> b.lr(-2), "b"), "group 'g': lr must be finite and >= 0, got -2.0"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().group("g", b -> b.amsgrad(true), "b"), "group 'g' changes amsgrad=true"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.sgd().momentum(0.9).group("g", b -> b.momentum(0), "b"), "momentum must be zero in every group or in none"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().group("g", b -> { }, "nope"), "unknown tensor name 'nope'"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().group("g", b -> { }, "b").group("h", b -> { }, "b"), "tensor 'b' is in groups 'g' and 'h'"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().group("g", b -> { }, "b").group("g", b -> { }, "w"), "duplicate group name 'g'"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("badBuilders")
    void builderRejectsAndNamesTheArgument(Supplier<OptimizerBuilder<?>> builder, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> builder.get().build(store));
        assertTrue(e.getMessage().contains(message), () -> "message was: " + e.getMessage());
    }

    @Test
    void storeRejectsBadDeclarations() {
        assertMessage(() -> ParameterStore.builder().add("a", 2).add("a", 3), "duplicate tensor name 'a'");
        assertMessage(() -> ParameterStore.builder().add("a"), "shape of 'a' must have at least one dimension");
        assertMessage(() -> ParameterStore.builder().add("a", 2, 0), "shape of 'a' must have dimensions >= 1, got [2, 0]");
        assertMessage(() -> ParameterStore.builder().add("", 2), "tensor name must be non-empty");
        assertMessage(() -> ParameterStore.builder().build(device), "a parameter store needs at least one tensor");
        assertMessage(() -> ParameterStore.builder().add("a", Long.MAX_VALUE, 2), "more than");
    }

    @Test
    void wrongGradientsChangeNothing() {
        float[] before = {1, 2, 3, 4};
        store.setGradients("b", before);
        assertMessage(() -> store.setGradients("b", new float[5]), "gradients for 'b' have 5 elements, expected 4");
        assertMessage(() -> store.setGradients("nope", new float[4]), "unknown tensor name 'nope'");
        assertThrows(IndexOutOfBoundsException.class, () -> store.writeGradients("b", 2, new float[3], 0, 3));
        assertArrayEquals(before, store.gradients("b"));
    }

    @Test
    void unknownSlotIsNamed() {
        try (Optimizer opt = Optimizers.adam().build(store)) {
            assertMessage(() -> opt.state("w", "momentum_buffer"), "unknown state slot 'momentum_buffer'; adam has [exp_avg, exp_avg_sq]");
        }
    }

    @Test
    void deviceNamesAreChecked() {
        assertMessage(() -> Device.of("tpu"), "device must be auto, cpu or cuda, got tpu");
    }

    @Test
    void aScheduleThatGoesNegativeStopsTheStepBeforeAnyChange() {
        io.fusedopt.schedule.Schedule bad = new io.fusedopt.schedule.Schedule() {
            @Override
            public double lr(long step, double baseLr) {
                return step == 0 ? baseLr : -1;
            }

            @Override
            public java.util.Map<String, Object> toSpec() {
                return java.util.Map.of("type", "custom");
            }
        };
        try (Optimizer opt = Optimizers.sgd().lr(0.1).schedule(bad).build(store)) {
            store.setGradients("b", new float[] {1, 1, 1, 1});
            opt.step();
            float[] after = store.parameters("b");
            IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(e.getMessage().contains("gave learning rate -1.0 at step 1"), e.getMessage());
            assertArrayEquals(after, store.parameters("b"));
            assertEquals(1, opt.stepCount());
        }
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable e, String fragment) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        assertTrue(ex.getMessage().contains(fragment), () -> "message was: " + ex.getMessage());
    }
}
