package io.fusedopt.schedule;

import java.util.Map;

/**
 * Cosine annealing with warm restarts (SGDR, Loshchilov &amp; Hutter 2017). Cycle {@code k} lasts
 * {@code T_k = t0 · tMult^k} epochs and starts at {@code S_k = t0 (1 + tMult + … + tMult^(k-1))};
 * for {@code S_k <= e < S_k + T_k}:
 * {@code lr = etaMin + (baseLr - etaMin)(1 + cos(π (e - S_k) / T_k))/2}.
 *
 * <p>The cycle is found by walking the cycle lengths in integer units of {@code 1/den} epoch
 * (steps, under per-batch stepping), never with a logarithm: torch 1.13 computes
 * {@code int(log(e/T_0·(T_mult-1)+1, T_mult))}, which rounds down at some restarts (for example
 * {@code T_0=1, T_mult=3} at epoch 121 gives etaMin instead of the base rate). The walk takes
 * {@code O(log step)} iterations for {@code tMult >= 2} and is one division for
 * {@code tMult == 1}; a cycle length that exceeds the {@code long} range means the step lies in
 * that cycle, so no arithmetic overflows.
 */
record CosineWarmRestarts(long t0, long tMult, double etaMin) implements EpochSchedule {
    static final String TYPE = "cosine_annealing_warm_restarts";

    /** Rejects {@code t0 < 1}, {@code tMult < 1} and an {@code etaMin} that is not finite and >= 0. */
    CosineWarmRestarts {
        Check.atLeast("t0", t0, 1);
        Check.atLeast("tMult", tMult, 1);
        etaMin = Check.finiteNonNegative("etaMin", etaMin);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        return Curves.cosine(baseLr, etaMin, positionInCycle(num, den));
    }

    /** {@code (e - S_k) / T_k} in {@code [0, 1)} for the cycle {@code k} holding {@code e = num/den}. */
    double positionInCycle(long num, long den) {
        long len;
        try {
            len = Math.multiplyExact(den, t0);
        } catch (ArithmeticException longerThanAnyStep) {
            return num / ((double) den * t0);
        }
        if (tMult == 1) {
            return (double) (num % len) / len;
        }
        long start = 0;
        while (num - start >= len) {
            start += len; // <= num, no overflow
            try {
                len = Math.multiplyExact(len, tMult);
            } catch (ArithmeticException longerThanAnyStep) {
                return (num - start) / ((double) len * tMult);
            }
        }
        return (double) (num - start) / len;
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "T_0", t0, "T_mult", tMult, "eta_min", etaMin);
    }
}
