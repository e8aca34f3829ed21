package io.fusedopt.schedule;

import java.util.Map;

/**
 * Factories for the learning-rate schedules of FORMAT.md, and the parser of its
 * {@code schedule} objects.
 *
 * <p>All parameters count epochs {@code e}; by default {@code e = step}. Use
 * {@link Schedule#perBatch(long)} or {@link Schedule#perEpoch(long)} (or the static forms here) to
 * count in epochs of several steps. Every factory checks its arguments and throws
 * {@link IllegalArgumentException} naming the argument and the value, for example
 * {@code t0 must be >= 1, got 0}.
 */
public final class Schedules {
    private Schedules() {
    }

    /** {@code lr = baseLr} at every step. */
    public static Schedule constant() {
        return new Constant();
    }

    /**
     * {@code lr = baseLr · gamma^floor(e / stepSize)}.
     *
     * @throws IllegalArgumentException if {@code stepSize < 1} or {@code gamma} is not finite and
     *     > 0
     */
    public static Schedule stepLr(long stepSize, double gamma) {
        return new StepLr(stepSize, gamma);
    }

    /**
     * {@code lr = baseLr · gamma^(number of milestones <= e)}.
     *
     * @throws IllegalArgumentException if {@code milestones} is null or empty, not strictly
     *     increasing, or holds a value below 1, or if {@code gamma} is not finite and > 0
     */
    public static Schedule multiStepLr(long[] milestones, double gamma) {
        return new MultiStepLr(milestones, gamma);
    }

    /**
     * {@code lr = baseLr · gamma^e}.
     *
     * @throws IllegalArgumentException if {@code gamma} is not finite and > 0
     */
    public static Schedule exponentialLr(double gamma) {
        return new ExponentialLr(gamma);
    }

    /**
     * {@code lr = etaMin + (baseLr - etaMin)(1 + cos(π e / tMax))/2}, then {@code etaMin} held for
     * {@code e > tMax} (torch's form would rise again; see {@link CosineAnnealingLr} for why we
     * hold).
     *
     * @throws IllegalArgumentException if {@code tMax < 1} or {@code etaMin} is not finite and >= 0
     */
    public static Schedule cosineAnnealing(long tMax, double etaMin) {
        return new CosineAnnealingLr(tMax, etaMin);
    }

    /**
     * Cosine annealing with warm restarts: cycles of {@code t0, t0·tMult, t0·tMult², …} epochs, each
     * a cosine from {@code baseLr} to {@code etaMin}; exact restarts at any step count.
     *
     * @throws IllegalArgumentException if {@code t0 < 1}, {@code tMult < 1} or {@code etaMin} is
     *     not finite and >= 0
     */
    public static Schedule sgdr(long t0, long tMult, double etaMin) {
        return new CosineWarmRestarts(t0, tMult, etaMin);
    }

    /**
     * {@code lr = baseLr · (startFactor + (endFactor - startFactor) · min(e, totalIters) /
     * totalIters)}: a linear ramp of the factor that then holds {@code endFactor}.
     *
     * @throws IllegalArgumentException if a factor is not finite and >= 0 or {@code totalIters < 1}
     */
    public static Schedule linearWarmup(double startFactor, double endFactor, long totalIters) {
        return new LinearWarmup(startFactor, endFactor, totalIters);
    }

    /**
     * {@code first(e)} for {@code e < milestone}, then {@code then(e - milestone)}.
     *
     * @throws IllegalArgumentException if a schedule is null or {@code milestone < 1}
     */
    public static Schedule sequential(Schedule first, long milestone, Schedule then) {
        return new Sequential(first, milestone, then);
    }

    /**
     * FORMAT.md's {@code linear_warmup_cosine}: {@code sequential(linearWarmup(startFactor,
     * endFactor, totalIters), milestone, cosineAnnealing(tMax, etaMin))}, equal to that expression.
     *
     * @throws IllegalArgumentException as the three factories it combines
     */
    public static Schedule linearWarmupCosine(double startFactor, double endFactor,
            long totalIters, long milestone, long tMax, double etaMin) {
        return sequential(linearWarmup(startFactor, endFactor, totalIters), milestone,
                cosineAnnealing(tMax, etaMin));
    }

    /**
     * The two-phase cosine one-cycle policy: from {@code maxLr/divFactor} up to {@code maxLr} over
     * the first {@code pctStart·totalSteps - 1} steps, then down to
     * {@code maxLr/divFactor/finalDivFactor} at step {@code totalSteps - 1}, held afterwards. The
     * base rate is ignored.
     *
     * @throws IllegalArgumentException if {@code maxLr}, {@code divFactor} or
     *     {@code finalDivFactor} is not finite and > 0, {@code totalSteps < 2}, {@code pctStart} is
     *     outside (0, 1) or {@code pctStart·totalSteps <= 1}
     */
    public static Schedule oneCycle(double maxLr, long totalSteps, double pctStart,
            double divFactor, double finalDivFactor) {
        return new OneCycleLr(maxLr, totalSteps, pctStart, divFactor, finalDivFactor);
    }

    /**
     * {@code lr = baseLr · (1 - min(e, totalIters)/totalIters)^power}, reaching 0 at
     * {@code totalIters}.
     *
     * @throws IllegalArgumentException if {@code totalIters < 1} or {@code power} is not finite
     *     and > 0
     */
    public static Schedule polynomial(long totalIters, double power) {
        return new PolynomialLr(totalIters, power);
    }

    /**
     * {@code schedule} stepped per batch: step {@code j} uses epoch {@code j / stepsPerEpoch}
     * (unit {@code "fractional_epoch"}).
     *
     * @throws IllegalArgumentException if {@code stepsPerEpoch < 1}, {@code schedule} is null or
     *     already re-expressed, or contains a schedule not built here
     */
    public static Schedule perBatch(Schedule schedule, long stepsPerEpoch) {
        return new PerBatch(schedule, stepsPerEpoch);
    }

    /**
     * {@code schedule} stepped per epoch: step {@code j} uses epoch {@code floor(j / stepsPerEpoch)}
     * (unit {@code "epoch"}).
     *
     * @throws IllegalArgumentException if {@code stepsPerEpoch < 1} or {@code schedule} is null or
     *     already re-expressed
     */
    public static Schedule perEpoch(Schedule schedule, long stepsPerEpoch) {
        return new PerEpoch(schedule, stepsPerEpoch);
    }

    /**
     * Builds a schedule from a FORMAT.md {@code schedule} object or from {@link Schedule#toSpec()}:
     * {@code "type"} (one of {@code constant, step_lr, multi_step_lr, exponential_lr,
     * cosine_annealing_lr, cosine_annealing_warm_restarts, linear_warmup, sequential,
     * linear_warmup_cosine, one_cycle_lr, polynomial_lr}), that type's parameters under FORMAT.md's
     * names, an optional {@code "step_unit"} ({@code "step"} by default, {@code "fractional_epoch"}
     * or {@code "epoch"}) and, for the latter two, {@code "steps_per_epoch"}. Integers may be
     * written as integral floats. For {@code one_cycle_lr}, {@code anneal_strategy},
     * {@code three_phase} and {@code cycle_momentum} are optional and, if present, must be
     * {@code "cos"}, {@code false} and {@code false}.
     *
     * @throws IllegalArgumentException naming the key and the value, for a missing, unknown, mistyped
     *     or invalid entry
     */
    public static Schedule fromSpec(Map<String, Object> spec) {
        return Specs.parse(spec);
    }
}
