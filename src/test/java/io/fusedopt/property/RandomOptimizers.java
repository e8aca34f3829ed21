package io.fusedopt.property;

import io.fusedopt.NonFinitePolicy;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random valid optimizer configurations: hyperparameters inside each rule's valid range, parameter groups, and
 * schedules. The structural choices come from jqwik (so failures shrink); the many real values come from a seed.
 */
final class RandomOptimizers {
    private RandomOptimizers() {
    }

    /** Every name of the registry, aliases (amsbound) included. */
    static final List<String> RULES = io.fusedopt.rule.Algorithms.names();

    /** Number of schedule kinds {@link #schedule} knows. */
    static final int SCHEDULE_KINDS = 9;

    /** One random configuration, fully determined by its fields. */
    record Case(String rule, List<Integer> sizes, int groups, int scheduleKind, boolean lookahead,
            NonFinitePolicy policy, int steps, long seed) {
        @Override
        public String toString() {
            return rule + " sizes=" + sizes + " groups=" + groups + " schedule=" + scheduleKind + " lookahead="
                    + lookahead + " policy=" + policy + " steps=" + steps + " seed=" + seed;
        }
    }

    static double uniform(SplittableRandom r, double lo, double hi) {
        return lo + (hi - lo) * r.nextDouble();
    }

    static double logUniform(SplittableRandom r, double lo, double hi) {
        return Math.exp(uniform(r, Math.log(lo), Math.log(hi)));
    }

    /** A builder of {@code rule} with random valid hyperparameters for the default group. */
    static OptimizerBuilder<?> builder(String rule, SplittableRandom r) {
        double lr = logUniform(r, 1e-4, 0.1);
        double wd = r.nextInt(3) == 0 ? 0 : logUniform(r, 1e-5, 0.1);
        double b1 = uniform(r, 0, 0.99), b2 = uniform(r, 0.5, 0.9999);
        double eps = logUniform(r, 1e-10, 1e-3);
        switch (rule) {
            case "sgd", "sgdw" -> {
                Optimizers.SgdBuilder b = rule.equals("sgd") ? Optimizers.sgd() : Optimizers.sgdW();
                b.lr(lr).weightDecay(wd);
                if (r.nextBoolean()) {
                    b.momentum(uniform(r, 0.01, 0.99));
                    if (r.nextBoolean()) {
                        b.nesterov(true);
                    } else {
                        b.dampening(uniform(r, 0, 1));
                    }
                }
                return b;
            }
            case "adam", "adamw" -> {
                return (rule.equals("adam") ? Optimizers.adam() : Optimizers.adamW()).amsgrad(r.nextBoolean())
                        .lr(lr).weightDecay(wd).betas(b1, b2).eps(eps);
            }
            case "adagrad" -> {
                return Optimizers.adagrad().lrDecay(r.nextBoolean() ? 0 : logUniform(r, 1e-4, 0.1))
                        .initialAccumulatorValue(r.nextBoolean() ? 0 : uniform(r, 0, 1)).eps(eps).lr(lr)
                        .weightDecay(wd);
            }
            case "radam" -> {
                return Optimizers.radam().lr(lr).weightDecay(wd).betas(b1, b2).eps(eps);
            }
            case "nadam" -> {
                return Optimizers.nadam().momentumDecay(uniform(r, 0, 0.01)).lr(lr).weightDecay(wd).betas(b1, b2)
                        .eps(eps);
            }
            case "adabelief" -> {
                return Optimizers.adaBelief().amsgrad(r.nextBoolean()).rectify(r.nextBoolean())
                        .weightDecouple(r.nextBoolean()).fixedDecay(r.nextBoolean())
                        .degeneratedToSgd(r.nextBoolean()).lr(lr).weightDecay(wd).betas(b1, b2)
                        .eps(logUniform(r, 1e-16, 1e-3));
            }
            case "adabound", "amsbound" -> {
                return (rule.equals("adabound") ? Optimizers.adaBound() : Optimizers.amsBound())
                        .finalLr(uniform(r, 0, 0.5)).gamma(logUniform(r, 1e-4, 0.1)).lr(lr).weightDecay(wd)
                        .betas(b1, b2).eps(eps);
            }
            case "yogi" -> {
                return Optimizers.yogi().initialAccumulator(r.nextBoolean() ? 0 : uniform(r, 0, 1)).lr(lr)
                        .weightDecay(wd).betas(b1, b2).eps(eps);
            }
            case "lamb" -> {
                return Optimizers.lamb().lr(lr).weightDecay(wd).betas(b1, b2).eps(eps);
            }
            case "swats" -> {
                return Optimizers.swats().lr(lr).weightDecay(wd).betas(b1, b2).eps(logUniform(r, 1e-9, 1e-3));
            }
            default -> {
                return fromSchema(rule, r, lr, wd);
            }
        }
    }

    /**
     * A builder of an algorithm without a hand-written case above, with random values drawn from each
     * hyperparameter's declared range; flags stay at their defaults, since they may depend on each other.
     */
    static OptimizerBuilder<?> fromSchema(String rule, SplittableRandom r, double lr, double wd) {
        OptimizerBuilder<?> b = Optimizers.named(rule);
        for (io.fusedopt.rule.HyperParam p : b.algorithm().params()) {
            if (p.kind() == io.fusedopt.rule.HyperParam.Kind.FLAG) {
                continue;
            }
            List<Double> v = new ArrayList<>();
            for (int i = 0; i < p.names().size(); i++) {
                v.add(switch (p.range()) {
                    case UNIT -> uniform(r, 0.5, 0.999);
                    case CLOSED_UNIT -> uniform(r, 0, 1);
                    case POSITIVE -> logUniform(r, 1e-8, 1e-3);
                    case NON_NEGATIVE -> p.key().equals("lr") ? lr : p.key().equals("weight_decay") ? wd
                            : logUniform(r, 1e-5, 0.1);
                    case FINITE -> uniform(r, -1, 1);
                    case COUNT -> (double) r.nextInt(5);
                });
            }
            b.set(p.key(), p.kind() == io.fusedopt.rule.HyperParam.Kind.NUMBER ? v.get(0) : v);
        }
        return b;
    }

    /** Adds a group that overrides the learning rate and the weight decay (Adafactor's is weight_decay_rate). */
    static <B extends OptimizerBuilder<B>> void group(OptimizerBuilder<B> b, String name, double lr, double wd,
            String... tensors) {
        String key = b.algorithm().param("weight_decay") != null ? "weight_decay" : "weight_decay_rate";
        b.group(name, g -> g.lr(lr).set(key, wd), tensors);
    }

    /** A random valid schedule of kind {@code kind}, sometimes stepped per batch or per epoch. */
    static Schedule schedule(int kind, SplittableRandom r) {
        Schedule s = switch (kind) {
            case 0 -> Schedules.constant();
            case 1 -> Schedules.stepLr(1 + r.nextInt(5), uniform(r, 0.1, 1));
            case 2 -> Schedules.multiStepLr(new long[] {1 + r.nextInt(2), 3 + r.nextInt(3)}, uniform(r, 0.1, 1));
            case 3 -> Schedules.exponentialLr(uniform(r, 0.5, 1));
            case 4 -> Schedules.cosineAnnealing(1 + r.nextInt(10), r.nextBoolean() ? 0 : logUniform(r, 1e-6, 1e-4));
            case 5 -> Schedules.sgdr(1 + r.nextInt(4), 1 + r.nextInt(2), r.nextBoolean() ? 0 : 1e-5);
            case 6 -> Schedules.linearWarmup(uniform(r, 0.01, 1), uniform(r, 0.5, 1), 1 + r.nextInt(5));
            case 7 -> Schedules.oneCycle(logUniform(r, 1e-3, 0.05), 4 + r.nextInt(16), uniform(r, 0.3, 0.7), 25,
                    1e4);
            case 8 -> Schedules.polynomial(1 + r.nextInt(10), uniform(r, 0.5, 2));
            default -> throw new IllegalArgumentException("schedule kind " + kind);
        };
        return switch (r.nextInt(3)) {
            case 0 -> s;
            case 1 -> s.perBatch(1 + r.nextInt(3));
            default -> s.perEpoch(1 + r.nextInt(3));
        };
    }

    /** Shapes for element counts: a matrix when the count has a small factor, otherwise a vector. */
    static List<long[]> shapes(List<Integer> sizes) {
        List<long[]> out = new ArrayList<>();
        for (int n : sizes) {
            int f = n % 3 == 0 ? 3 : n % 2 == 0 ? 2 : 1;
            out.add(f == 1 ? new long[] {n} : new long[] {f, n / f});
        }
        return out;
    }
}
