package io.fusedopt.schedule;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Decay at milestones: {@code lr = baseLr · gamma^(number of milestones <= e)}.
 *
 * <p>The milestones are whole epochs, strictly increasing, each {@code >= 1}.
 */
record MultiStepLr(long[] milestones, double gamma) implements EpochSchedule {
    static final String TYPE = "multi_step_lr";

    /**
     * Copies the milestones; rejects a null or empty array, a milestone below 1, a sequence that
     * does not strictly increase, and a {@code gamma} that is not finite and > 0.
     */
    MultiStepLr {
        Check.notNull("milestones", milestones);
        milestones = milestones.clone();
        if (milestones.length == 0) {
            throw Check.invalid("milestones", "non-empty", "[]");
        }
        for (int i = 0; i < milestones.length; i++) {
            if (milestones[i] < 1) {
                throw Check.invalid("milestones", ">= 1", Arrays.toString(milestones));
            }
            if (i > 0 && milestones[i] <= milestones[i - 1]) {
                throw Check.invalid("milestones", "strictly increasing", Arrays.toString(milestones));
            }
        }
        Check.finitePositive("gamma", gamma);
    }

    /** A copy, so the record stays immutable. */
    @Override
    public long[] milestones() {
        return milestones.clone();
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        // Milestones are integers, so "m <= e" is "m <= floor(e)": no rounding of e is involved.
        long wholeEpoch = num / den;
        int i = Arrays.binarySearch(milestones, wholeEpoch);
        int passed = i >= 0 ? i + 1 : -(i + 1);
        return Curves.scale(baseLr, Math.pow(gamma, passed));
    }

    @Override
    public Map<String, Object> toSpec() {
        List<Long> list = Arrays.stream(milestones).boxed().toList();
        return Specs.spec(TYPE, "milestones", list, "gamma", gamma);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MultiStepLr m
                && Arrays.equals(milestones, m.milestones)
                && Double.compare(gamma, m.gamma) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(milestones) + Double.hashCode(gamma);
    }

    @Override
    public String toString() {
        return "MultiStepLr[milestones=" + Arrays.toString(milestones) + ", gamma=" + gamma + "]";
    }
}
