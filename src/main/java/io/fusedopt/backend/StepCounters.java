package io.fusedopt.backend;

/**
 * The counters a step program keeps: on CUDA they live on the device and reading them waits for the steps issued
 * so far.
 *
 * @param applied steps applied
 * @param skipped steps skipped for a non-finite gradient
 * @param lastSkipped whether the last step issued was skipped
 * @param lastGradNorm the global gradient norm of the last step (after unscaling), NaN before the first or
 *     without clipping
 * @param lossScale the current loss scale (0 without loss scaling)
 * @param growthTracker applied steps in a row since the scale last changed
 */
public record StepCounters(long applied, long skipped, boolean lastSkipped, double lastGradNorm, float lossScale,
        int growthTracker) {
}
