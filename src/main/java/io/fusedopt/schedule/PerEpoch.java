package io.fusedopt.schedule;

import java.util.Map;

/**
 * A schedule stepped once per epoch: step {@code j} uses the whole epoch
 * {@code e = floor(j / stepsPerEpoch)} (unit {@code "epoch"}), so the rate is constant within an
 * epoch, as with torch's {@code scheduler.step()} called at the end of each epoch.
 */
record PerEpoch(Schedule inner, long stepsPerEpoch) implements Schedule {
    static final String UNIT = "epoch";

    /** Rejects a null inner schedule, one that is already re-expressed, and {@code stepsPerEpoch < 1}. */
    PerEpoch {
        Units.checkInner(inner);
        Check.atLeast("stepsPerEpoch", stepsPerEpoch, 1);
    }

    @Override
    public double lr(long step, double baseLr) {
        Check.step(step);
        return EpochSchedule.eval(inner, step / stepsPerEpoch, 1, baseLr);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.withUnit(inner.toSpec(), UNIT, stepsPerEpoch);
    }
}
