package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.schedule.Schedule;
import org.junit.jupiter.api.Test;

/** A short training run learns, repeats bit for bit, and the schedules are the ones the demo promises. */
class TrainerTest {
    private static final Digits.Split SPLIT = Digits.split(Digits.load());

    @Test
    void threeEpochsOfAdamLearnTheDigitsAndRepeatExactly() {
        Trainer trainer = new Trainer(SPLIT, 3, 32, 42);
        RunResult first;
        RunResult second;
        try (Device cpu = Device.cpu()) {
            int[] steps = {0};
            first = trainer.train(cpu, OptimizerChoice.ADAM, ScheduleChoice.CONSTANT, () -> steps[0]++);
            assertEquals(3 * 45, steps[0], "1,438 samples in batches of 32 make 45 steps per epoch");
            second = trainer.train(cpu, OptimizerChoice.ADAM, ScheduleChoice.CONSTANT, null);
        }
        assertEquals(45, first.stepsPerEpoch());
        assertEquals(135, first.steps());
        // Chance is 10%; three epochs of Adam reach about 95% on this split.
        assertTrue(first.testAccuracy() > 0.85, "test accuracy " + first.testAccuracy());
        assertEquals(4, first.curve().size(), "epoch 0 (the initial parameters) and three trained epochs");
        assertEquals(0, first.curve().get(0).step());
        assertEquals(Math.log(10), first.curve().get(0).trainLoss(), 0.5, "an untrained net is near uniform");
        assertTrue(first.curve().get(3).trainLoss() < first.curve().get(1).trainLoss(), "loss did not fall");
        assertEquals(first.curve(), second.curve(), "the same seed must give the same curve, bit for bit");
        assertTrue(first.wallSeconds() > 0 && first.stepsPerSecond() > 0);
    }

    @Test
    void sgdrRestartsAtTheStartOfEachCycleAndAnnealsToOnePercent() {
        // 30 epochs: first cycle 2 epochs, then 4, 8, 16; restarts at epochs 2, 6 and 14.
        assertEquals(2, ScheduleChoice.firstCycle(30));
        assertEquals(1, ScheduleChoice.firstCycle(3));
        Schedule s = ScheduleChoice.SGDR.build(30, 45, 1e-3);
        assertEquals(1e-3, s.lr(0, 1e-3), 1e-15);
        for (long restart : new long[] {2, 6, 14}) {
            assertEquals(1e-3, s.lr(restart * 45, 1e-3), 1e-15, "restart at epoch " + restart);
            assertTrue(s.lr(restart * 45 - 1, 1e-3) < 2e-5, "end of the cycle before epoch " + restart);
        }
        assertTrue(s.lr(30 * 45 - 1, 1e-3) >= 1e-5, "the cosine floor is 1% of the base rate");
        // Per batch: the rate changes within an epoch.
        assertTrue(s.lr(10, 1e-3) < s.lr(9, 1e-3));
        Schedule c = ScheduleChoice.CONSTANT.build(30, 45, 1e-3);
        assertEquals(1e-3, c.lr(1000, 1e-3));
    }

    @Test
    void namesResolveAndUnknownOnesAreRejected() {
        assertEquals(OptimizerChoice.LOOKAHEAD, OptimizerChoice.named(" Lookahead "));
        assertEquals(ScheduleChoice.SGDR, ScheduleChoice.named("SGDR"));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> OptimizerChoice.named("nope"));
        assertTrue(e.getMessage().contains("'nope'"), e.getMessage());
        assertEquals(10, OptimizerChoice.defaults().size());
    }

    @Test
    void probeAnswersWithoutThrowing() {
        // Here JCublas usually cannot load (no libcublas.so.12); on a GPU machine it may. Either way: no throw.
        CublasProbe.unavailableReason().ifPresent(reason -> assertTrue(!reason.contains("\n") && !reason.isBlank(),
                reason));
    }

    @Test
    void probeReasonsAreOneShortLine() {
        String reason = CublasProbe.oneLine(new UnsatisfiedLinkError("Error while loading native library \"JCublas2\"\n"
                + "Operating system name: Linux\n" + "x".repeat(500)));
        assertEquals("UnsatisfiedLinkError: Error while loading native library \"JCublas2\"", reason);
        assertTrue(CublasProbe.oneLine(new RuntimeException("y".repeat(500))).length() <= 200);
        assertEquals("IllegalStateException", CublasProbe.oneLine(new IllegalStateException()));
    }
}
