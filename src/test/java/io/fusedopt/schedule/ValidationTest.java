package io.fusedopt.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every rejection names the argument (or spec key) and the value it got. */
class ValidationTest {
    private static final Schedule C = Schedules.constant();

    static Stream<Arguments> factoryRejections() {
        return Stream.of(
                bad("t0 must be >= 1, got 0", () -> Schedules.sgdr(0, 1, 0)),
                bad("tMult must be >= 1, got 0", () -> Schedules.sgdr(1, 0, 0)),
                bad("etaMin must be finite and >= 0, got -1.0", () -> Schedules.sgdr(1, 1, -1)),
                bad("etaMin must be finite and >= 0, got NaN", () -> Schedules.sgdr(1, 1, Double.NaN)),
                bad("stepSize must be >= 1, got 0", () -> Schedules.stepLr(0, 0.5)),
                bad("gamma must be finite and > 0, got NaN", () -> Schedules.stepLr(1, Double.NaN)),
                bad("gamma must be finite and > 0, got 0.0", () -> Schedules.stepLr(1, 0)),
                bad("gamma must be finite and > 0, got Infinity",
                        () -> Schedules.exponentialLr(Double.POSITIVE_INFINITY)),
                bad("gamma must be finite and > 0, got -0.5",
                        () -> Schedules.multiStepLr(new long[] {1}, -0.5)),
                bad("milestones must be strictly increasing, got [3, 3]",
                        () -> Schedules.multiStepLr(new long[] {3, 3}, 0.5)),
                bad("milestones must be strictly increasing, got [5, 2]",
                        () -> Schedules.multiStepLr(new long[] {5, 2}, 0.5)),
                bad("milestones must be >= 1, got [0, 3]",
                        () -> Schedules.multiStepLr(new long[] {0, 3}, 0.5)),
                bad("milestones must be non-empty, got []",
                        () -> Schedules.multiStepLr(new long[] {}, 0.5)),
                bad("milestones must be non-null, got null", () -> Schedules.multiStepLr(null, 0.5)),
                bad("tMax must be >= 1, got 0", () -> Schedules.cosineAnnealing(0, 0)),
                bad("etaMin must be finite and >= 0, got Infinity",
                        () -> Schedules.cosineAnnealing(1, Double.POSITIVE_INFINITY)),
                bad("startFactor must be finite and >= 0, got -0.1",
                        () -> Schedules.linearWarmup(-0.1, 1, 5)),
                bad("endFactor must be finite and >= 0, got NaN",
                        () -> Schedules.linearWarmup(0.1, Double.NaN, 5)),
                bad("totalIters must be >= 1, got 0", () -> Schedules.linearWarmup(0.1, 1, 0)),
                bad("first must be non-null, got null", () -> Schedules.sequential(null, 1, C)),
                bad("then must be non-null, got null", () -> Schedules.sequential(C, 1, null)),
                bad("milestone must be >= 1, got 0", () -> Schedules.sequential(C, 0, C)),
                bad("milestone must be >= 1, got -3",
                        () -> Schedules.linearWarmupCosine(0.1, 1, 5, -3, 10, 0)),
                bad("tMax must be >= 1, got 0", () -> Schedules.linearWarmupCosine(0.1, 1, 5, 5, 0, 0)),
                bad("maxLr must be finite and > 0, got 0.0",
                        () -> Schedules.oneCycle(0, 20, 0.3, 25, 1e4)),
                bad("totalSteps must be >= 2, got 1", () -> Schedules.oneCycle(0.1, 1, 0.3, 25, 1e4)),
                bad("pctStart must be in (0, 1), got 1.0", () -> Schedules.oneCycle(0.1, 20, 1, 25, 1e4)),
                bad("pctStart must be in (0, 1), got NaN",
                        () -> Schedules.oneCycle(0.1, 20, Double.NaN, 25, 1e4)),
                bad("pctStart must be such that pctStart * totalSteps > 1 (a warm-up of more than one "
                        + "step), got 0.3 (pctStart * totalSteps = 0.8999999999999999)",
                        () -> Schedules.oneCycle(0.1, 3, 0.3, 25, 1e4)),
                bad("divFactor must be finite and > 0, got 0.0",
                        () -> Schedules.oneCycle(0.1, 20, 0.3, 0, 1e4)),
                bad("finalDivFactor must be finite and > 0, got -1.0",
                        () -> Schedules.oneCycle(0.1, 20, 0.3, 25, -1)),
                bad("totalIters must be >= 1, got 0", () -> Schedules.polynomial(0, 1)),
                bad("power must be finite and > 0, got 0.0", () -> Schedules.polynomial(10, 0)),
                bad("stepsPerEpoch must be >= 1, got 0", () -> C.perBatch(0)),
                bad("stepsPerEpoch must be >= 1, got -2", () -> C.perEpoch(-2)),
                bad("stepsPerEpoch must be >= 1, got 0", () -> Schedules.perEpoch(C, 0)),
                bad("schedule must be non-null, got null", () -> Schedules.perBatch(null, 3)),
                bad("schedule must be in step units to be re-expressed, got PerEpoch[inner=Constant[], "
                        + "stepsPerEpoch=2]", () -> C.perEpoch(2).perBatch(3)),
                bad("schedule must be in step units to be re-expressed, got PerBatch[inner=Constant[], "
                        + "stepsPerEpoch=2]", () -> C.perBatch(2).perEpoch(3)));
    }

    private static Arguments bad(String message, Executable call) {
        return Arguments.of(message, call);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("factoryRejections")
    void factoriesNameTheArgumentAndValue(String message, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }

    @Test
    void perBatchRejectsPartsThatTakeWholeEpochsOnly() {
        Schedule foreign = new Schedule() {
            @Override
            public double lr(long step, double baseLr) {
                return baseLr;
            }

            @Override
            public Map<String, Object> toSpec() {
                return Map.of("type", "test_foreign");
            }

            @Override
            public String toString() {
                return "Foreign";
            }
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> foreign.perBatch(4));
        assertTrue(e.getMessage().startsWith("schedule must be built from Schedules throughout"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("got Foreign"), e.getMessage());
        Schedule mixed = Schedules.sequential(C, 2, C.perEpoch(3));
        assertThrows(IllegalArgumentException.class, () -> mixed.perBatch(4));
        assertEquals(0.1, foreign.perEpoch(4).lr(9, 0.1), 0.0, "whole epochs are fine");
    }

    @Test
    void lrRejectsNegativeStepsAndBadBaseRates() {
        for (Schedule s : SpecRoundTripTest.everySchedule()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.lr(-1, 0.1), s.toString());
            assertEquals("step must be >= 0, got -1", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.lr(Long.MIN_VALUE, 0.1));
            assertEquals("step must be >= 0, got " + Long.MIN_VALUE, e.getMessage());
            if (s.toSpec().get("type").equals("one_cycle_lr")) {
                assertEquals(s.lr(3, 0.1), s.lr(3, Double.NaN), 0.0, "one-cycle ignores the base rate");
                continue;
            }
            for (double base : new double[] {Double.NaN, -1.0, Double.POSITIVE_INFINITY}) {
                e = assertThrows(IllegalArgumentException.class, () -> s.lr(3, base), s.toString());
                assertEquals("baseLr must be finite and >= 0, got " + base, e.getMessage());
            }
        }
    }

    // ------------------------------------------------------------------------- fromSpec

    private static Map<String, Object> spec(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static Stream<Arguments> specRejections() {
        return Stream.of(
                Arguments.of(null, "schedule spec must be non-null, got null"),
                Arguments.of(spec("T_max", 3),
                        "schedule spec is missing key \"type\"; got keys [T_max]"),
                Arguments.of(spec("type", 7), "schedule key \"type\" must be a string, got 7"),
                Arguments.of(spec("type", "cosine"), "schedule key \"type\" has unknown value "
                        + "\"cosine\"; known types: [constant, cosine_annealing_lr, "
                        + "cosine_annealing_warm_restarts, exponential_lr, linear_warmup, "
                        + "linear_warmup_cosine, multi_step_lr, one_cycle_lr, polynomial_lr, sequential, "
                        + "step_lr]"),
                Arguments.of(spec("type", "cosine_annealing_lr", "T-max", 15, "eta_min", 0.0),
                        "schedule key \"T-max\" (value 15) is not a key of type \"cosine_annealing_lr\"; "
                                + "allowed keys: [type, T_max, eta_min, step_unit, steps_per_epoch]"),
                Arguments.of(spec("type", "cosine_annealing_lr", "eta_min", 0.0),
                        "schedule spec of type \"cosine_annealing_lr\" is missing key \"T_max\""),
                Arguments.of(spec("type", "cosine_annealing_lr", "T_max", null, "eta_min", 0.0),
                        "schedule spec of type \"cosine_annealing_lr\" is missing key \"T_max\" (value null)"),
                Arguments.of(spec("type", "cosine_annealing_lr", "T_max", 0, "eta_min", 0.0),
                        "schedule key \"T_max\" = 0 is invalid for type \"cosine_annealing_lr\": "
                                + "tMax must be >= 1, got 0"),
                Arguments.of(spec("type", "cosine_annealing_lr", "T_max", "15", "eta_min", 0.0),
                        "schedule key \"T_max\" must be an integer in the long range, got \"15\" (String)"),
                Arguments.of(spec("type", "cosine_annealing_lr", "T_max", 1.5, "eta_min", 0.0),
                        "schedule key \"T_max\" must be an integer in the long range, got 1.5 (Double)"),
                Arguments.of(spec("type", "cosine_annealing_lr", "T_max", 3, "eta_min", true),
                        "schedule key \"eta_min\" must be a number, got true (Boolean)"),
                Arguments.of(spec("type", "cosine_annealing_warm_restarts", "T_0", 0, "T_mult", 2,
                        "eta_min", 0.0), "schedule key \"T_0\" = 0 is invalid for type "
                                + "\"cosine_annealing_warm_restarts\": t0 must be >= 1, got 0"),
                Arguments.of(spec("type", "cosine_annealing_warm_restarts", "T_0", 1, "T_mult", 2,
                        "eta_min", -1.0), "schedule key \"eta_min\" = -1.0 is invalid for type "
                                + "\"cosine_annealing_warm_restarts\": etaMin must be finite and >= 0, got -1.0"),
                Arguments.of(spec("type", "multi_step_lr", "milestones", List.of(3, 3), "gamma", 0.1),
                        "schedule key \"milestones\" = [3, 3] is invalid for type \"multi_step_lr\": "
                                + "milestones must be strictly increasing, got [3, 3]"),
                Arguments.of(spec("type", "multi_step_lr", "milestones", List.of(3, "x"), "gamma", 0.1),
                        "schedule key \"milestones\" must be a list of integers, got [3, x] (element 1 is "
                                + "\"x\")"),
                Arguments.of(spec("type", "multi_step_lr", "milestones", 3, "gamma", 0.1),
                        "schedule key \"milestones\" must be a list of integers, got 3 (Integer)"),
                Arguments.of(spec("type", "step_lr", "step_size", 2, "gamma", 0.5, "step_unit", "batch"),
                        "schedule key \"step_unit\" has unknown value \"batch\"; expected \"step\", "
                                + "\"fractional_epoch\" or \"epoch\""),
                Arguments.of(spec("type", "step_lr", "step_size", 2, "gamma", 0.5,
                        "step_unit", "fractional_epoch"),
                        "schedule spec of type \"step_lr\" is missing key \"steps_per_epoch\""),
                Arguments.of(spec("type", "step_lr", "step_size", 2, "gamma", 0.5,
                        "step_unit", "epoch", "steps_per_epoch", 0),
                        "schedule key \"steps_per_epoch\" = 0 is invalid for type \"step_lr\": "
                                + "stepsPerEpoch must be >= 1, got 0"),
                Arguments.of(spec("type", "step_lr", "step_size", 2, "gamma", 0.5,
                        "steps_per_epoch", 4),
                        "schedule key \"steps_per_epoch\" (value 4) is only valid with step_unit "
                                + "\"fractional_epoch\" or \"epoch\", got step_unit \"step\""),
                Arguments.of(spec("type", "one_cycle_lr", "max_lr", 0.1, "total_steps", 20,
                        "pct_start", 0.3, "anneal_strategy", "linear", "div_factor", 25.0,
                        "final_div_factor", 1e4), "schedule key \"anneal_strategy\" = \"linear\" is not "
                                + "supported, only \"cos\": only cosine annealing is implemented"),
                Arguments.of(spec("type", "one_cycle_lr", "max_lr", 0.1, "total_steps", 20,
                        "pct_start", 0.3, "div_factor", 25.0, "final_div_factor", 1e4,
                        "three_phase", true), "schedule key \"three_phase\" = true is not supported, "
                                + "only false: only the two-phase cycle is implemented"),
                Arguments.of(spec("type", "one_cycle_lr", "max_lr", 0.1, "total_steps", 20,
                        "pct_start", 0.3, "div_factor", 25.0, "final_div_factor", 1e4,
                        "cycle_momentum", true), "schedule key \"cycle_momentum\" = true is not supported, "
                                + "only false: a schedule yields only the learning rate; momentum is not cycled"),
                Arguments.of(spec("type", "sequential", "first", spec("type", "constant"),
                        "milestone", 3, "then", spec("type", "polynomial_lr", "total_iters", 5,
                                "power", -1.0)),
                        "in schedule key \"then\": schedule key \"power\" = -1.0 is invalid for type "
                                + "\"polynomial_lr\": power must be finite and > 0, got -1.0"),
                Arguments.of(spec("type", "sequential", "first", "constant", "milestone", 3,
                        "then", spec("type", "constant")),
                        "schedule key \"first\" must be a schedule object, got \"constant\" (String)"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("specRejections")
    void fromSpecNamesTheKeyAndValue(Map<String, Object> spec, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedules.fromSpec(spec));
        assertEquals(message, e.getMessage());
    }
}
