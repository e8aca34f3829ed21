package io.fusedopt.schedule;

import java.util.Map;

/**
 * A schedule stepped once per batch: step {@code j} uses the fractional epoch
 * {@code e = j / stepsPerEpoch} (FORMAT.md unit {@code "fractional_epoch"}). The epoch is passed
 * on as the exact fraction, so integer boundaries of the inner schedule fall on the exact step.
 */
record PerBatch(Schedule inner, long stepsPerEpoch) implements Schedule {
    static final String UNIT = "fractional_epoch";

    /**
     * Rejects a null inner schedule, one that is already re-expressed, one with a part that is not
     * from {@link Schedules}, and {@code stepsPerEpoch < 1}.
     */
    PerBatch {
        Units.checkInner(inner);
        if (!(inner instanceof EpochSchedule es && es.fractional())) {
            throw Check.invalid("schedule",
                    "built from Schedules throughout to be stepped per batch (others take whole epochs only)",
                    inner);
        }
        Check.atLeast("stepsPerEpoch", stepsPerEpoch, 1);
    }

    @Override
    public double lr(long step, double baseLr) {
        Check.step(step);
        return ((EpochSchedule) inner).at(step, stepsPerEpoch, baseLr);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.withUnit(inner.toSpec(), UNIT, stepsPerEpoch);
    }
}
