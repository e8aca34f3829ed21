package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hyperparameters are validated as the float32 values the kernels read, derived per-step scalars are checked
 * before a step is issued, group overrides cannot set what belongs to the whole optimizer, and the step count
 * cannot overflow. Each failure names the parameter, the group and the value, and changes nothing.
 */
@Tag("device")
class FloatRangeAndOverridesTest {
    private Device device;
    private ParameterStore store;
    private final float[] w = {0.5f, -1f, 2f};

    @BeforeEach
    void open() {
        device = TestDevices.device();
        store = ParameterStore.builder().add("w", 3).add("b", 2).build(device);
        store.setParameters("w", w);
        store.setGradients("w", new float[] {0.1f, 0.2f, -0.3f});
    }

    @AfterEach
    void close() {
        store.close();
        device.close();
    }

    static Stream<Arguments> rejected() {
        return Stream.of(
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().lr(1e39),
                        "lr must be finite and >= 0 also as a float (the kernels compute in float32), got 1.0E39"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adamW().weightDecay(1e39),
                        "weightDecay must be finite and >= 0 also as a float"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().eps(1e-50),
                        "eps must be finite and > 0 also as a float (the kernels compute in float32), got 1.0E-50,"
                                + " which is 0.0 as a float"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam().group("g", b -> b.eps(1e-46), "b"),
                        "group 'g': eps must be finite and > 0 also as a float"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam()
                        .group("g", b -> b.schedule(Schedules.stepLr(1, 0.5)), "b"),
                        "group 'g' sets the schedule, which belongs to the whole optimizer"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam()
                        .group("g", b -> b.lookahead(5, 0.5), "b"), "group 'g' sets Lookahead"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam()
                        .group("g", b -> b.nonFinite(NonFinitePolicy.SKIP), "b"), "group 'g' sets the non-finite policy"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam()
                        .group("g", b -> b.group("h", x -> { }, "w"), "b"), "group 'g' sets nested groups"),
                Arguments.of((Supplier<OptimizerBuilder<?>>) () -> Optimizers.adam()
                        .group("g", b -> { }, "b", null), "group 'g' lists a null tensor name"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("rejected")
    void buildRejectsAndNamesIt(Supplier<OptimizerBuilder<?>> builder, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> builder.get().build(store));
        assertTrue(e.getMessage().contains(message), () -> "message was: " + e.getMessage());
    }

    @Test
    void aScheduleBeyondFloatRangeStopsTheStepBeforeAnyChange() {
        Schedule huge = new Schedule() {
            @Override
            public double lr(long step, double baseLr) {
                return 1e39;
            }

            @Override
            public java.util.Map<String, Object> toSpec() {
                return java.util.Map.of("type", "constant");
            }
        };
        try (Optimizer opt = Optimizers.sgd().lr(0.1).schedule(huge).build(store)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(e.getMessage().contains("learning rate 1.0E39") && e.getMessage().contains("overflows a float32")
                    && e.getMessage().contains("schedule"),
                    e.getMessage());
            assertEquals(0, opt.stepCount());
            assertArrayEquals(w, store.parameters("w"));
        }
    }

    @Test
    void aDerivedScalarThatOverflowsStopsTheStepBeforeAnyChange() {
        // 1 - lr * wd = 1 - 1e40 is -inf as a float, although lr and wd each fit.
        try (Optimizer opt = Optimizers.adamW().lr(1e30).weightDecay(1e10)
                .group("no_decay", g -> g.weightDecay(0), "b").build(store)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(e.getMessage().contains("per-step scalar 6 of adamw is -Infinity"), e.getMessage());
            assertEquals(0, opt.stepCount());
            assertArrayEquals(w, store.parameters("w"));
            assertArrayEquals(new float[3], opt.state("w", "exp_avg"));
        }
    }

    @Test
    void theStepCountCannotOverflow() {
        try (Optimizer opt = Optimizers.adam().build(store)) {
            opt.restoreCounters(Long.MAX_VALUE, 0, opt.tensorState());
            IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(e.getMessage().contains("would overflow"), e.getMessage());
            assertEquals(Long.MAX_VALUE, opt.stepCount());
            assertArrayEquals(w, store.parameters("w"));
        }
    }
}
