package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Parameter groups, state read-back, the learning rate, concurrency, and closed objects. */
@Tag("device")
class GroupsAndStateTest {

    @Test
    void eachGroupStepsWithItsOwnHyperparameters() {
        float[] w = {0.5f, -0.25f, 1f, 2f, -3f};
        float[] g = {0.1f, 0.2f, -0.3f, 0.4f, -0.5f};
        try (Device d = TestDevices.device();
                ParameterStore both = ParameterStore.builder().add("a", 5).add("b", 5).build(d);
                ParameterStore onlyA = ParameterStore.builder().add("a", 5).build(d);
                ParameterStore onlyB = ParameterStore.builder().add("b", 5).build(d);
                Optimizer grouped = Optimizers.adamW().lr(0.01).weightDecay(0.1)
                        .schedule(Schedules.cosineAnnealing(10, 0.0))
                        .group("fast", x -> x.lr(0.1).weightDecay(0).betas(0.8, 0.99), "b").build(both);
                Optimizer refA = Optimizers.adamW().lr(0.01).weightDecay(0.1)
                        .schedule(Schedules.cosineAnnealing(10, 0.0)).build(onlyA);
                Optimizer refB = Optimizers.adamW().lr(0.1).weightDecay(0).betas(0.8, 0.99)
                        .schedule(Schedules.cosineAnnealing(10, 0.0)).build(onlyB)) {
            for (ParameterStore s : new ParameterStore[] {both, onlyA, onlyB}) {
                for (var t : s.tensors()) {
                    s.setParameters(t.name(), w);
                    s.setGradients(t.name(), g);
                }
            }
            for (int i = 0; i < 4; i++) {
                grouped.step();
                refA.step();
                refB.step();
            }
            assertArrayEquals(onlyA.parameters("a"), both.parameters("a"));
            assertArrayEquals(onlyB.parameters("b"), both.parameters("b"));
            assertArrayEquals(refB.state("b", "exp_avg_sq"), grouped.state("b", "exp_avg_sq"));
            assertEquals(refB.learningRate(), grouped.learningRate(1), 0.0);
            assertEquals(java.util.List.of("default", "fast"), grouped.groupNames());
        }
    }

    @Test
    void stateAndLearningRateReadBack() {
        try (Device d = TestDevices.device();
                ParameterStore s = ParameterStore.builder().add("w", 3).build(d);
                Optimizer opt = Optimizers.adam().lr(0.1).amsgrad(true).schedule(Schedules.stepLr(1, 0.5)).build(s)) {
            assertEquals(0.1, opt.learningRate(), 0.0, "before any step: the rate of the first step");
            s.setGradients("w", new float[] {1f, -2f, 0f});
            opt.step();
            assertEquals(1, opt.stepCount());
            assertEquals(0.1, opt.learningRate(), 0.0);
            assertArrayEquals(new float[] {0.1f * 1f, 0.1f * -2f, 0f}, opt.state("w", "exp_avg"), 1e-7f);
            assertArrayEquals(new float[] {0.001f, 0.004f, 0f}, opt.state("w", "exp_avg_sq"), 1e-7f);
            assertArrayEquals(opt.state("w", "exp_avg_sq"), opt.state("w", "max_exp_avg_sq"));
            opt.step();
            assertEquals(0.05, opt.learningRate(), 1e-15);
            assertEquals(java.util.List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), opt.slotNames());
        }
    }

    @Test
    void lookaheadSlowWeightsAreReadable() {
        try (Device d = TestDevices.device();
                ParameterStore s = ParameterStore.builder().add("w", 2).build(d);
                Optimizer opt = Optimizers.sgd().lr(1).lookahead(2, 0.5).build(s)) {
            s.setParameters("w", new float[] {1f, 1f});
            s.setGradients("w", new float[] {1f, 2f});
            opt.step();
            assertArrayEquals(new float[] {1f, 1f}, opt.state("w", "slow"), "slow weights start at the first step's parameters");
            assertArrayEquals(new float[] {0f, -1f}, s.parameters("w"));
            opt.step();
            assertArrayEquals(new float[] {0f, -1f}, s.parameters("w"), "w = slow + 0.5 (fast - slow) at step 2");
            assertArrayEquals(new float[] {0f, -1f}, opt.state("w", "slow"));
        }
    }

    @Test
    void concurrentStepsOnOneOptimizerAreRejected() throws Exception {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Schedule blocking = new Schedule() {
            @Override
            public double lr(long step, double baseLr) {
                if (step == 0 && Thread.currentThread().getName().equals("first")) {
                    inside.countDown();
                    try {
                        release.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return baseLr;
            }

            @Override
            public Map<String, Object> toSpec() {
                return Map.of("type", "blocking");
            }
        };
        try (Device d = TestDevices.device();
                ParameterStore s = ParameterStore.builder().add("w", 8).build(d);
                Optimizer opt = Optimizers.sgd().lr(0.1).schedule(blocking).build(s)) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread first = new Thread(() -> {
                try {
                    opt.step();
                } catch (Throwable t) {
                    failure.set(t);
                }
            }, "first");
            first.start();
            assertTrue(inside.await(10, TimeUnit.SECONDS));
            IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(e.getMessage().contains("already running on this optimizer in another thread"), e.getMessage());
            release.countDown();
            first.join();
            assertEquals(null, failure.get());
            assertEquals(1, opt.stepCount());
        }
    }

    @Test
    void differentOptimizersOnDifferentThreadsWork() throws Exception {
        try (Device d = TestDevices.device()) {
            Thread[] threads = new Thread[3];
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int i = 0; i < threads.length; i++) {
                threads[i] = new Thread(() -> {
                    try (ParameterStore s = ParameterStore.builder().add("w", 5000).build(d);
                            Optimizer o = Optimizers.adamW().build(s)) {
                        float[] g = new float[5000];
                        java.util.Arrays.fill(g, 0.5f);
                        for (int k = 0; k < 20; k++) {
                            s.setGradients("w", g);
                            o.step();
                        }
                        float expected = s.parameters("w")[0];
                        assertTrue(expected < 0, "the parameters moved against the gradient");
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                });
                threads[i].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(null, failure.get());
        }
    }

    @Test
    void closedObjectsRefuseWork() {
        try (Device d = TestDevices.device()) {
            ParameterStore s = ParameterStore.builder().add("w", 4).build(d);
            Optimizer opt = Optimizers.sgd().build(s);
            opt.close();
            assertThrows(IllegalStateException.class, opt::step);
            opt.close();
            Optimizer other = Optimizers.sgd().build(s);
            s.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, other::step);
            assertTrue(e.getMessage().contains("parameter store is closed"), e.getMessage());
            other.close();
            assertThrows(IllegalStateException.class, () -> s.parameters("w"));
        }
    }
}
