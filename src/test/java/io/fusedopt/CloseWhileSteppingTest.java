package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.emu.StandIn;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Closing an optimizer, its store or its device while another thread is inside {@code step()} waits for the step
 * and then frees the memory; the stepping thread's next call is refused with an {@link IllegalStateException}.
 * No memory is freed under a running step (on CUDA that was a crash of the JVM), and nothing leaks.
 */
@Tag("device")
class CloseWhileSteppingTest {
    @ParameterizedTest
    @ValueSource(strings = {"optimizer", "store", "device"})
    void closingWaitsForTheRunningStep(String what) throws Exception {
        long before = StandIn.active() ? StandIn.liveAllocations() : 0;
        Device device = TestDevices.device();
        ParameterStore store = ParameterStore.builder().add("w", 1 << 20).add("b", 4097).build(device);
        Optimizer opt = Optimizers.adamW().lr(1e-3).lookahead(3, 0.5).build(store);
        store.setGradients("b", new float[4097]);
        AtomicLong steps = new AtomicLong();
        AtomicReference<Throwable> ended = new AtomicReference<>();
        CountDownLatch started = new CountDownLatch(2);
        Thread stepper = new Thread(() -> {
            try {
                while (true) {
                    opt.step();
                    steps.incrementAndGet();
                    started.countDown();
                }
            } catch (Throwable t) {
                ended.set(t);
            }
        }, "stepper");
        stepper.start();
        try {
            assertTrue(started.await(60, TimeUnit.SECONDS), "the stepping thread took two steps");
            switch (what) {
                case "optimizer" -> opt.close();
                case "store" -> store.close();
                default -> device.close();
            }
            stepper.join(60_000);
            assertNotNull(ended.get(), "the stepping thread stopped");
            assertEquals(IllegalStateException.class, ended.get().getClass(), () -> "ended with " + ended.get());
        } finally {
            stepper.join(60_000);
            opt.close();
            store.close();
            device.close();
        }
        assertTrue(steps.get() >= 2);
        if (StandIn.active()) {
            assertEquals(before, StandIn.liveAllocations(), "every device allocation is freed");
        }
    }
}
