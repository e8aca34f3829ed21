package io.fusedopt.demo;

import io.fusedopt.schedule.Schedule;
import java.util.List;

/**
 * The outcome of training the MLP with one optimizer under one schedule.
 *
 * @param optimizer the optimizer
 * @param scheduleChoice the schedule's kind
 * @param schedule the schedule as built for this run, for plotting the rate at every step
 * @param stepsPerEpoch optimizer steps per epoch
 * @param curve one point per epoch, in order, from epoch 0 (the initial parameters)
 * @param wallSeconds wall time of the run: training steps and the per-epoch test evaluation
 */
public record RunResult(OptimizerChoice optimizer, ScheduleChoice scheduleChoice, Schedule schedule,
        long stepsPerEpoch, List<EpochPoint> curve, double wallSeconds) {

    /** Copies the curve; rejects one without a trained epoch (fewer than two points). */
    public RunResult {
        curve = List.copyOf(curve);
        if (curve.size() < 2) {
            throw new IllegalArgumentException("a run needs epoch 0 and at least one trained epoch, got "
                    + curve.size() + " points");
        }
    }

    /** The last epoch's point. */
    public EpochPoint last() {
        return curve.get(curve.size() - 1);
    }

    /** The mean training loss of the last epoch. */
    public double finalTrainLoss() {
        return last().trainLoss();
    }

    /** The test accuracy after the last epoch, in [0, 1]. */
    public double testAccuracy() {
        return last().testAccuracy();
    }

    /** The optimizer steps taken. */
    public long steps() {
        return last().step();
    }

    /** Optimizer steps per second of wall time, evaluation included. */
    public double stepsPerSecond() {
        return steps() / wallSeconds;
    }
}
