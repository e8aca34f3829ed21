package io.fusedopt.schedule;

import java.util.Map;

/**
 * One-cycle policy (Smith &amp; Topin 2018; torch {@code OneCycleLR} with
 * {@code anneal_strategy="cos"}, two phases, no momentum cycling). With
 * {@code init = maxLr / divFactor}, {@code min = init / finalDivFactor},
 * {@code E1 = pctStart · totalSteps - 1} and {@code E2 = totalSteps - 1}:
 * <pre>
 *   e <= E1:       lr = max + (init - max)(1 + cos(π e / E1))/2          (init → max)
 *   E1 < e < E2:   lr = min + (max - min)(1 + cos(π (e - E1)/(E2 - E1)))/2   (max → min)
 *   e >= E2:       lr = min
 * </pre>
 * The base rate is ignored: the cycle is defined by {@code maxLr}. Past {@code E2} torch raises
 * an error; holding the final rate lets a run continue for a few extra steps safely.
 */
record OneCycleLr(double maxLr, long totalSteps, double pctStart, double divFactor,
        double finalDivFactor) implements EpochSchedule {
    static final String TYPE = "one_cycle_lr";

    /**
     * Rejects non-finite or non-positive {@code maxLr}, {@code divFactor} and
     * {@code finalDivFactor}, {@code totalSteps < 2}, a {@code pctStart} outside {@code (0, 1)},
     * and a warm-up phase shorter than one step ({@code pctStart · totalSteps <= 1}, where torch
     * divides by zero).
     */
    OneCycleLr {
        Check.finitePositive("maxLr", maxLr);
        Check.atLeast("totalSteps", totalSteps, 2);
        if (!(pctStart > 0 && pctStart < 1)) {
            throw Check.invalid("pctStart", "in (0, 1)", pctStart);
        }
        if (!(pctStart * totalSteps > 1)) {
            throw Check.invalid("pctStart",
                    "such that pctStart * totalSteps > 1 (a warm-up of more than one step)",
                    pctStart + " (pctStart * totalSteps = " + pctStart * totalSteps + ")");
        }
        Check.finitePositive("divFactor", divFactor);
        Check.finitePositive("finalDivFactor", finalDivFactor);
    }

    /** The rate of step 0, {@code maxLr / divFactor}. */
    double initialLr() {
        return maxLr / divFactor;
    }

    /** The rate held from {@code E2} on, {@code initialLr / finalDivFactor}. */
    double finalLr() {
        return initialLr() / finalDivFactor;
    }

    @Override
    public double at(long num, long den, double baseLr) {
        if (num / den >= totalSteps - 1) {
            return finalLr();
        }
        double e = EpochSchedule.epoch(num, den);
        double end1 = pctStart * totalSteps - 1;
        if (e <= end1) {
            return Curves.cosine(initialLr(), maxLr, e / end1);
        }
        double end2 = totalSteps - 1;
        return Curves.cosine(maxLr, finalLr(), (e - end1) / (end2 - end1));
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "max_lr", maxLr, "total_steps", totalSteps, "pct_start", pctStart,
                "anneal_strategy", "cos", "div_factor", divFactor, "final_div_factor", finalDivFactor,
                "three_phase", false, "cycle_momentum", false);
    }
}
