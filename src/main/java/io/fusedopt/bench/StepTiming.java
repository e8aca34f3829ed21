package io.fusedopt.bench;

/**
 * The timed steps of one optimizer configuration and the reference bandwidth measured between them.
 *
 * @param optimizer the configuration name
 * @param backend {@code cpu} or {@code cuda}
 * @param params parameters stepped
 * @param tensors tensors in the arena
 * @param bytesPerParameter {@link Traffic#perParameter} of the rule
 * @param bytesPerStep bytesPerParameter × params
 * @param stepMsMedian the median of the measured steps, in milliseconds, each from {@code step()} to the end of a
 *     synchronisation
 * @param reference the reference pattern, timed once after each measured step
 * @param backToBackMs the device time per step of the same number of steps issued back to back, between two
 *     events on the step stream (on the CPU, their wall time): what a training loop that never waits sees
 * @param hostMsPerStep the host time per {@code step()} call of those back-to-back steps (issuing them, up to the
 *     last call's return, without waiting for the device on CUDA)
 */
public record StepTiming(String optimizer, String backend, long params, int tensors, int bytesPerParameter,
        long bytesPerStep, double stepMsMedian, Bandwidth reference, double backToBackMs, double hostMsPerStep) {
}
