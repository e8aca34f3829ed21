package io.fusedopt.schedule;

import java.util.Map;

/**
 * A learning rate as a pure function of the 0-based optimizer step and the parameter group's
 * base rate.
 *
 * <p>Every schedule from {@link Schedules} is an immutable value (a record with
 * {@code equals}/{@code hashCode}/{@code toString}), safe to share between threads, and computed
 * in closed form in {@code double}: there is no per-step state to save, restore or replay, so the
 * rate of step one million costs the same as the rate of step zero.
 *
 * <p>Parameters of a schedule are counted in <em>epochs</em> {@code e}. By default one epoch is
 * one optimizer step ({@code e = step}, unit {@code "step"}); {@link #perBatch(long)} and
 * {@link #perEpoch(long)} re-express the same schedule over batches of an epoch.
 */
public interface Schedule {
    /**
     * The rate used by optimizer step {@code step} (0-based: the first {@code step()} is step 0)
     * for a group whose base rate is {@code baseLr}.
     *
     * @throws IllegalArgumentException if {@code step < 0}, or if the schedule uses {@code baseLr}
     *     and it is negative or not finite
     */
    double lr(long step, double baseLr);

    /**
     * A description that {@link Schedules#fromSpec(Map)} turns back into an equal schedule: keys as
     * in the golden FORMAT.md {@code schedule} object ({@code "type"}, the parameters,
     * {@code "step_unit"} and, for units other than {@code "step"}, {@code "steps_per_epoch"}).
     * Values are {@code Double}, {@code Long}, {@code Boolean}, {@code String}, {@code List<Long>}
     * or, for composites, nested maps. The returned map is unmodifiable.
     */
    Map<String, Object> toSpec();

    /**
     * This schedule stepped once per batch: step {@code j} uses the fractional epoch
     * {@code e = j / stepsPerEpoch} (FORMAT.md unit {@code "fractional_epoch"}). Integer
     * boundaries (SGDR restarts, step decays, milestones) stay exact at any step count.
     *
     * @throws IllegalArgumentException if {@code stepsPerEpoch < 1}, if this schedule is already
     *     re-expressed ({@code perBatch}/{@code perEpoch}), or if it contains a schedule that does
     *     not come from {@link Schedules} (those can only be evaluated at whole epochs)
     */
    default Schedule perBatch(long stepsPerEpoch) {
        return Schedules.perBatch(this, stepsPerEpoch);
    }

    /**
     * This schedule stepped once per epoch: step {@code j} uses the whole epoch
     * {@code e = floor(j / stepsPerEpoch)} (unit {@code "epoch"}), so the rate is constant within an
     * epoch.
     *
     * @throws IllegalArgumentException if {@code stepsPerEpoch < 1} or if this schedule is already
     *     re-expressed ({@code perBatch}/{@code perEpoch})
     */
    default Schedule perEpoch(long stepsPerEpoch) {
        return Schedules.perEpoch(this, stepsPerEpoch);
    }
}
