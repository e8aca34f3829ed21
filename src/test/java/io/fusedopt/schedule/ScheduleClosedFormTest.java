package io.fusedopt.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Schedules against closed forms written out here, at the edges: step 0, the SGDR restart
 * boundaries, past the end, giant step counts and per-batch / per-epoch units.
 *
 * <p>Tolerances: {@code EXACT} (0) where the implementation promises the bit (ends of a cosine,
 * integer boundaries); {@code ULPS} (1e-15 relative) where the test's closed form and the
 * implementation evaluate the same formula with a different order of operations.
 */
class ScheduleClosedFormTest {
    private static final double BASE = 0.1;
    private static final double EXACT = 0.0;
    private static final double ULPS = 1e-15;
    private static final long TWO_53 = 1L << 53;
    private static final long TWO_62 = 1L << 62;
    private static final long MAX = Long.MAX_VALUE;

    /** FORMAT.md's {@code cos(a→b, p)} written independently of the implementation. */
    private static double cos(double a, double b, double p) {
        return b + (a - b) * (1 + Math.cos(Math.PI * p)) / 2;
    }

    private static void close(double expected, double actual, String what) {
        assertEquals(expected, actual, ULPS * Math.max(Math.abs(expected), 1e-300), what);
    }

    private static void inRange(double lo, double hi, double v, String what) {
        assertTrue(Double.isFinite(v) && v >= lo && v <= hi, what + ": " + v + " not in [" + lo
                + ", " + hi + "]");
    }

    // ---------------------------------------------------------------------------- step 0

    @Test
    void stepZeroOfEverySchedule() {
        assertEquals(BASE, Schedules.constant().lr(0, BASE), EXACT);
        assertEquals(BASE, Schedules.stepLr(3, 0.5).lr(0, BASE), EXACT);
        assertEquals(BASE, Schedules.multiStepLr(new long[] {1, 4}, 0.3).lr(0, BASE), EXACT);
        assertEquals(BASE, Schedules.exponentialLr(0.9).lr(0, BASE), EXACT);
        assertEquals(BASE, Schedules.cosineAnnealing(10, 1e-3).lr(0, BASE), EXACT);
        assertEquals(BASE, Schedules.sgdr(5, 2, 1e-3).lr(0, BASE), EXACT);
        assertEquals(BASE * 0.1, Schedules.linearWarmup(0.1, 1.0, 5).lr(0, BASE), EXACT);
        assertEquals(0.0, Schedules.linearWarmup(0.0, 1.0, 5).lr(0, BASE), EXACT);
        assertEquals(BASE * 0.25,
                Schedules.linearWarmupCosine(0.25, 1.0, 4, 4, 10, 0).lr(0, BASE), EXACT);
        assertEquals(0.1 / 25, Schedules.oneCycle(0.1, 20, 0.3, 25, 1e4).lr(0, 123.0), EXACT);
        assertEquals(BASE, Schedules.polynomial(10, 2).lr(0, BASE), EXACT);
    }

    @Test
    void stepZeroIsTheSameInEveryUnit() {
        for (Schedule s : SpecRoundTripTest.stepUnitSchedules()) {
            double at0 = s.lr(0, BASE);
            assertEquals(at0, s.perBatch(7).lr(0, BASE), EXACT, s.toString());
            assertEquals(at0, s.perEpoch(7).lr(0, BASE), EXACT, s.toString());
            assertEquals(at0, s.perEpoch(7).lr(6, BASE), EXACT, "whole first epoch, " + s);
        }
    }

    // ---------------------------------------------------------------------------- shapes

    @Test
    void decaysFollowTheirClosedForms() {
        Schedule step = Schedules.stepLr(3, 0.5);
        Schedule multi = Schedules.multiStepLr(new long[] {2, 5, 11}, 0.3);
        Schedule exp = Schedules.exponentialLr(0.9);
        Schedule poly = Schedules.polynomial(10, 2);
        for (int j = 0; j < 40; j++) {
            close(BASE * Math.pow(0.5, j / 3), step.lr(j, BASE), "step_lr " + j);
            int passed = (j >= 2 ? 1 : 0) + (j >= 5 ? 1 : 0) + (j >= 11 ? 1 : 0);
            close(BASE * Math.pow(0.3, passed), multi.lr(j, BASE), "multi_step_lr " + j);
            close(BASE * Math.pow(0.9, j), exp.lr(j, BASE), "exponential_lr " + j);
            double left = 1 - Math.min(j, 10) / 10.0;
            close(BASE * left * left, poly.lr(j, BASE), "polynomial_lr " + j);
        }
    }

    @Test
    void cosineAndWarmupFollowTheirClosedForms() {
        Schedule cosine = Schedules.cosineAnnealing(12, 1e-3);
        Schedule warm = Schedules.linearWarmup(0.2, 1.0, 4);
        Schedule joined = Schedules.linearWarmupCosine(0.2, 1.0, 4, 6, 12, 1e-3);
        for (int j = 0; j <= 12; j++) {
            close(cos(BASE, 1e-3, j / 12.0), cosine.lr(j, BASE), "cosine " + j);
        }
        for (int j = 0; j < 6; j++) {
            double f = 0.2 + 0.8 * Math.min(j, 4) / 4.0;
            close(BASE * f, warm.lr(j, BASE), "warmup " + j);
            close(BASE * f, joined.lr(j, BASE), "joined warm-up " + j);
        }
        for (int j = 6; j <= 18; j++) {
            close(cos(BASE, 1e-3, (j - 6) / 12.0), joined.lr(j, BASE), "joined cosine " + j);
        }
    }

    @Test
    void oneCycleFollowsItsClosedFormAndIgnoresTheBase() {
        Schedule s = Schedules.oneCycle(0.2, 50, 0.25, 10, 100);
        double init = 0.02;
        double fin = 0.02 / 100;
        double e1 = 0.25 * 50 - 1;
        for (int j = 0; j < 49; j++) {
            double expected = j <= e1 ? cos(init, 0.2, j / e1) : cos(0.2, fin, (j - e1) / (49 - e1));
            close(expected, s.lr(j, 0.5), "one_cycle " + j);
            assertEquals(s.lr(j, 0.5), s.lr(j, 0.0), EXACT, "base rate must not matter");
        }
    }

    // ---------------------------------------------------------------------------- SGDR

    /** Cycle starts of SGDR up to {@code limit}, by summing lengths: the test's own reference. */
    private static List<Long> restarts(long t0, long tMult, long limit) {
        List<Long> starts = new ArrayList<>();
        long start = 0;
        long len = t0;
        while (start <= limit) {
            starts.add(start);
            start += len;
            len *= tMult;
        }
        return starts;
    }

    @ParameterizedTest(name = "T_0={0}, T_mult={1}, eta_min={2}")
    @CsvSource({"1,1,0", "5,1,0.001", "1,2,0", "3,2,0.001", "1,3,0", "2,3,0.001", "4,4,0"})
    void sgdrMatchesTheWalkedCyclesAtEveryStep(long t0, long tMult, double etaMin) {
        Schedule s = Schedules.sgdr(t0, tMult, etaMin);
        List<Long> starts = restarts(t0, tMult, 2000);
        for (int k = 0; k + 1 < starts.size(); k++) {
            long start = starts.get(k);
            long len = starts.get(k + 1) - start;
            assertEquals(BASE, s.lr(start, BASE), EXACT, "restart at step " + start);
            for (long j = start; j < start + len; j++) {
                double expected = cos(BASE, etaMin, (double) (j - start) / len);
                close(expected, s.lr(j, BASE), "step " + j);
                inRange(etaMin, BASE, s.lr(j, BASE), "step " + j);
            }
            if (k > 0) {
                double before = s.lr(start - 1, BASE);
                double prevLen = start - starts.get(k - 1);
                close(cos(BASE, etaMin, (prevLen - 1) / prevLen), before, "step before " + start);
                if (prevLen > 2) { // a cycle of 1 or 2 steps never gets below its middle
                    assertTrue(before < etaMin + (BASE - etaMin) * 0.5, "close to etaMin before " + start);
                }
            }
        }
    }

    /**
     * torch 1.13 finds the cycle with {@code int(log(e·(T_mult-1)/T_0 + 1, T_mult))}; at
     * {@code T_0=1, T_mult=3, e=121} the logarithm of 243 base 3 rounds below 5, so torch stays in
     * the old cycle and returns etaMin. Cycles 1, 3, 9, 27, 81 end exactly at 121: a restart.
     */
    @Test
    void sgdrRestartsAtTorchsLogRoundingPoint() {
        Schedule s = Schedules.sgdr(1, 3, 1e-4);
        assertEquals(BASE, s.lr(121, BASE), EXACT);
        close(cos(BASE, 1e-4, 80 / 81.0), s.lr(120, BASE), "last step of the 81-step cycle");
        assertEquals(BASE, s.lr(364, BASE), EXACT, "next restart, 121 + 243");
    }

    @Test
    void sgdrFractionalRestartsFallOnExactSteps() {
        // 3 batches per epoch, T_0 = 1, T_mult = 2: restarts at epochs 1, 3, 7, 15 = steps 3, 9, 21, 45.
        Schedule s = Schedules.sgdr(1, 2, 1e-3).perBatch(3);
        for (long epoch : new long[] {1, 3, 7, 15, 31}) {
            assertEquals(BASE, s.lr(3 * epoch, BASE), EXACT, "restart at step " + 3 * epoch);
            // the last step of a cycle is 1/3 epoch before its end: at most (1+cos(2π/3))/2 = 1/4 up
            assertTrue(s.lr(3 * epoch - 1, BASE) <= 1e-3 + (BASE - 1e-3) * 0.25 + 1e-15,
                    "before restart at " + 3 * epoch);
        }
        close(cos(BASE, 1e-3, (4.0 / 3 - 1) / 2), s.lr(4, BASE), "epoch 4/3 in cycle [1, 3)");
    }

    @Test
    void perEpochHoldsTheRateWithinAnEpoch() {
        Schedule s = Schedules.sgdr(2, 1, 0).perEpoch(4);
        for (int j = 0; j < 40; j++) {
            long e = j / 4;
            close(cos(BASE, 0, (e % 2) / 2.0), s.lr(j, BASE), "step " + j);
        }
        Schedule decay = Schedules.stepLr(1, 0.5).perEpoch(7);
        assertEquals(BASE, decay.lr(6, BASE), EXACT);
        assertEquals(BASE / 2, decay.lr(7, BASE), EXACT);
    }

    // ---------------------------------------------------------------------------- past the end

    @Test
    void pastTheEndEachScheduleHoldsItsFinalRate() {
        Schedule cosine = Schedules.cosineAnnealing(10, 1e-3);
        Schedule poly = Schedules.polynomial(10, 2);
        Schedule cycle = Schedules.oneCycle(0.1, 20, 0.3, 25, 1e4);
        Schedule warm = Schedules.linearWarmup(0.1, 0.8, 5);
        Schedule joined = Schedules.linearWarmupCosine(0.1, 1.0, 5, 5, 15, 1e-5);
        double finalCycle = 0.1 / 25 / 1e4;
        for (long j : new long[] {20, 21, 25, 1000, TWO_53 + 1, MAX}) {
            assertEquals(1e-3, cosine.lr(j, BASE), EXACT, "cosine holds eta_min at " + j);
            assertEquals(0.0, poly.lr(j, BASE), EXACT, "polynomial stays 0 at " + j);
            assertEquals(BASE * 0.8, warm.lr(j, BASE), EXACT, "warm-up holds end factor at " + j);
            assertEquals(finalCycle, cycle.lr(j, BASE), EXACT, "one-cycle holds at " + j);
            assertEquals(1e-5, joined.lr(j, BASE), EXACT, "joined holds at " + j);
        }
        assertEquals(1e-3, cosine.lr(10, BASE), EXACT, "T_max itself is eta_min");
        assertEquals(0.0, poly.lr(10, BASE), EXACT, "total_iters itself is 0");
        assertEquals(BASE * 0.8, warm.lr(5, BASE), EXACT, "total_iters itself is the end factor");
        assertEquals(finalCycle, cycle.lr(19, BASE), EXACT, "step total_steps-1 is the final rate");
        assertTrue(cosine.lr(9, BASE) > 1e-3, "still annealing one step before T_max");
        assertTrue(poly.lr(9, BASE) > 0, "still decaying one step before total_iters");
    }

    // ---------------------------------------------------------------------------- giant steps

    @Test
    void sgdrTMult2AtGiantStepsRestartsExactly() {
        // T_0 = 1, T_mult = 2: cycle k starts at 2^k - 1; Long.MAX_VALUE = 2^63 - 1 starts cycle 63,
        // whose length 2^63 no longer fits in a long.
        double etaMin = 1e-3;
        Schedule s = Schedules.sgdr(1, 2, etaMin);
        for (int k : new int[] {52, 53, 54, 62, 63}) {
            long start = k == 63 ? MAX : (1L << k) - 1;
            assertEquals(BASE, s.lr(start, BASE), EXACT, "restart at 2^" + k + " - 1");
            double before = s.lr(start - 1, BASE);
            inRange(etaMin, etaMin + 1e-12, before, "step before 2^" + k + " - 1");
            double mid = s.lr(start - (1L << (k - 2)), BASE);
            close(cos(BASE, etaMin, 0.5), mid, "middle of the cycle ending at 2^" + k + " - 1");
        }
        close(cos(BASE, etaMin, 1.0 / (1L << 53)), s.lr(TWO_53, BASE), "2^53, one step in");
    }

    @Test
    void sgdrTMult1AtGiantStepsUsesExactRemainders() {
        // T_0 = 3: restarts at multiples of 3. 2^53 = 2 (mod 3), 2^62 = 1 (mod 3), 2^63 - 1 = 1 (mod 3).
        Schedule s = Schedules.sgdr(3, 1, 0.0);
        assertEquals(BASE, s.lr(TWO_53 + 1, BASE), EXACT, "2^53 + 1 is a multiple of 3");
        close(cos(BASE, 0, 2 / 3.0), s.lr(TWO_53, BASE), "2^53");
        close(cos(BASE, 0, 1 / 3.0), s.lr(TWO_62, BASE), "2^62");
        close(cos(BASE, 0, 1 / 3.0), s.lr(MAX, BASE), "Long.MAX_VALUE");
        assertEquals(BASE, s.lr(MAX - 1, BASE), EXACT, "2^63 - 2 is a multiple of 3");
    }

    @Test
    void sgdrFractionalAtGiantStepsRestartsOnExactSteps() {
        // 7 steps per epoch, T_0 = 1, T_mult = 2: restarts at steps 7 (2^k - 1), k <= 60 fit a long.
        // Those steps divided by 7 are not representable as doubles for large k.
        double etaMin = 1e-4;
        Schedule s = Schedules.sgdr(1, 2, etaMin).perBatch(7);
        for (int k : new int[] {1, 2, 10, 50, 53, 54, 60}) {
            long start = 7 * ((1L << k) - 1);
            assertEquals(BASE, s.lr(start, BASE), EXACT, "restart at 7 (2^" + k + " - 1)");
            // one step (1/7 epoch) before the end of a cycle of >= 1 epoch: weight <= (1+cos(6π/7))/2
            inRange(etaMin, etaMin + (BASE - etaMin) * 0.05, s.lr(start - 1, BASE), "before, k=" + k);
        }
        // Long.MAX_VALUE lies in cycle 60 (start 7 (2^60 - 1), length 7·2^60), 2^60 + 6 steps in.
        double p = (double) ((1L << 60) + 6) / (7.0 * (1L << 60));
        close(cos(BASE, etaMin, p), s.lr(MAX, BASE), "Long.MAX_VALUE");
        Schedule flat = Schedules.sgdr(3, 1, etaMin).perBatch(7);
        assertEquals(BASE, flat.lr(21 * (TWO_62 / 21), BASE), EXACT, "multiple of 21 near 2^62");
        close(cos(BASE, etaMin, (MAX % 21) / 21.0), flat.lr(MAX, BASE), "Long.MAX_VALUE, T_mult 1");
    }

    @Test
    void sgdrWithAFirstCycleLongerThanAnyStepDoesNotOverflow() {
        Schedule s = Schedules.sgdr(MAX / 2, 3, 0.0).perBatch(7);
        assertEquals(BASE, s.lr(0, BASE), EXACT);
        close(cos(BASE, 0, MAX / (7.0 * (MAX / 2))), s.lr(MAX, BASE), "Long.MAX_VALUE");
        Schedule plain = Schedules.sgdr(MAX, 1, 0.0);
        inRange(0, BASE, plain.lr(MAX - 1, BASE), "last step of a Long.MAX_VALUE cycle");
        assertEquals(BASE, plain.lr(MAX, BASE), EXACT, "restart at exactly Long.MAX_VALUE");
    }

    @Test
    void integerBoundariesStayExactWhereDoublesCannot() {
        // 2^53 + 1 and 7·2^55 - 1 round to neighbours as doubles; the boundaries must not move.
        Schedule multi = Schedules.multiStepLr(new long[] {TWO_53 + 1}, 0.5);
        assertEquals(BASE, multi.lr(TWO_53, BASE), EXACT);
        assertEquals(BASE / 2, multi.lr(TWO_53 + 1, BASE), EXACT);
        Schedule step = Schedules.stepLr(1L << 55, 0.5).perBatch(7);
        assertEquals(BASE, step.lr(7 * (1L << 55) - 1, BASE), EXACT);
        assertEquals(BASE / 2, step.lr(7 * (1L << 55), BASE), EXACT);
        Schedule multiFrac = Schedules.multiStepLr(new long[] {1L << 59}, 0.5).perBatch(7);
        assertEquals(BASE, multiFrac.lr(7 * (1L << 59) - 1, BASE), EXACT);
        assertEquals(BASE / 2, multiFrac.lr(7 * (1L << 59), BASE), EXACT);
        Schedule cosine = Schedules.cosineAnnealing(1L << 60, 0.0).perBatch(7);
        close(cos(BASE, 0, 0.5), cosine.lr(7 * (1L << 59), BASE), "half-way at 7·2^59");
        assertEquals(0.0, cosine.lr(7 * (1L << 60), BASE), EXACT);
        Schedule poly = Schedules.polynomial(TWO_62, 1);
        close(BASE / 2, poly.lr(1L << 61, BASE), "half-way at 2^61");
    }

    @Test
    void everyScheduleIsFiniteAndInRangeAtGiantSteps() {
        for (Schedule s : SpecRoundTripTest.everySchedule()) {
            for (long j : new long[] {TWO_53 - 1, TWO_53, TWO_53 + 1, TWO_62, MAX - 1, MAX}) {
                double v = s.lr(j, BASE);
                inRange(0, BASE, v, s + " at " + j);
            }
        }
        assertEquals(0.0, Schedules.stepLr(3, 0.5).lr(MAX, BASE), EXACT);
        assertEquals(0.0, Schedules.exponentialLr(0.9).perBatch(7).lr(MAX, BASE), EXACT);
        assertEquals(BASE, Schedules.exponentialLr(1.0).lr(MAX, BASE), EXACT);
        assertEquals(Double.POSITIVE_INFINITY, Schedules.exponentialLr(1.5).lr(MAX, BASE));
        assertEquals(0.0, Schedules.exponentialLr(1.5).lr(MAX, 0.0), EXACT, "0 · inf stays 0");
    }

    @Test
    void exponentialSplitsWholeAndFractionalEpochs() {
        Schedule s = Schedules.exponentialLr(0.5).perBatch(7);
        assertEquals(BASE / 2, s.lr(7, BASE), EXACT);
        close(BASE * Math.pow(0.5, 10 + 3 / 7.0), s.lr(73, BASE), "epoch 10 + 3/7");
    }

    // ---------------------------------------------------------------------------- composition

    @Test
    void sequentialHandsTheRemainderToThen() {
        Schedule s = Schedules.sequential(Schedules.constant(), 4, Schedules.stepLr(2, 0.5));
        double[] expected = {1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.25};
        for (int j = 0; j < expected.length; j++) {
            assertEquals(BASE * expected[j], s.lr(j, BASE), EXACT, "step " + j);
        }
        Schedule batched = s.perBatch(3);
        assertEquals(BASE, batched.lr(17, BASE), EXACT, "epoch 5 + 2/3");
        assertEquals(BASE / 2, batched.lr(18, BASE), EXACT, "epoch 6");
    }

    @Test
    void sequentialCanNestReExpressedAndForeignParts() {
        Schedule foreign = new Schedule() {
            @Override
            public double lr(long step, double baseLr) {
                return baseLr / (1 + step);
            }

            @Override
            public java.util.Map<String, Object> toSpec() {
                return java.util.Map.of("type", "test_foreign");
            }
        };
        Schedule s = Schedules.sequential(Schedules.stepLr(1, 0.5).perEpoch(2), 4, foreign);
        double[] expected = {1, 1, 0.5, 0.5, 1, 0.5, 1 / 3.0};
        for (int j = 0; j < expected.length; j++) {
            close(BASE * expected[j], s.lr(j, BASE), "step " + j);
        }
        close(BASE / 2, s.perEpoch(10).lr(50, BASE), "per-epoch over a foreign part");
    }
}
