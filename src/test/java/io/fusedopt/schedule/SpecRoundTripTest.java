package io.fusedopt.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** toSpec → fromSpec gives an equal schedule, directly and through JSON; value semantics. */
class SpecRoundTripTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One of each factory, in step units; every value at most 1 so rates stay <= the base. */
    static List<Schedule> stepUnitSchedules() {
        return List.of(
                Schedules.constant(),
                Schedules.stepLr(3, 0.5),
                Schedules.multiStepLr(new long[] {4, 9, 15}, 0.3),
                Schedules.exponentialLr(0.9),
                Schedules.cosineAnnealing(15, 1e-4),
                Schedules.sgdr(5, 1, 0.0),
                Schedules.sgdr(3, 2, 1e-3),
                Schedules.sgdr(1, 3, 1e-4),
                Schedules.linearWarmup(0.0, 1.0, 5),
                Schedules.linearWarmupCosine(0.1, 1.0, 5, 5, 15, 1e-5),
                Schedules.sequential(Schedules.linearWarmup(0.1, 1.0, 3), 3, Schedules.sgdr(2, 2, 0)),
                Schedules.sequential(Schedules.constant(), 10,
                        Schedules.sequential(Schedules.exponentialLr(0.9), 5, Schedules.polynomial(4, 1))),
                Schedules.oneCycle(0.1, 20, 0.3, 25, 1e4),
                Schedules.polynomial(10, 2));
    }

    /** The above, and each re-expressed per batch and per epoch, and a mixed-unit composite. */
    static List<Schedule> everySchedule() {
        List<Schedule> all = new ArrayList<>(stepUnitSchedules());
        for (Schedule s : stepUnitSchedules()) {
            all.add(s.perBatch(7));
            all.add(Schedules.perEpoch(s, 4));
        }
        all.add(Schedules.sequential(Schedules.linearWarmup(0.1, 1, 4).perBatch(4), 8,
                Schedules.cosineAnnealing(10, 0).perEpoch(4)));
        return all;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("everySchedule")
    void toSpecThenFromSpecIsEqual(Schedule s) throws Exception {
        Map<String, Object> spec = s.toSpec();
        Schedule back = Schedules.fromSpec(spec);
        assertEquals(s, back);
        assertEquals(s.hashCode(), back.hashCode());
        assertEquals(spec, back.toSpec());
        assertThrows(UnsupportedOperationException.class, () -> spec.put("x", 1));

        // Through JSON, where longs come back as Integer and the maps are Jackson's.
        String text = JSON.writeValueAsString(spec);
        Map<String, Object> parsed = JSON.readValue(text, new TypeReference<Map<String, Object>>() {});
        assertEquals(s, Schedules.fromSpec(parsed), text);
        for (long j : new long[] {0, 1, 7, 33, 1000}) {
            assertEquals(s.lr(j, 0.1), Schedules.fromSpec(parsed).lr(j, 0.1), 0.0);
        }
    }

    @Test
    void linearWarmupCosineIsTheSequentialItNames() {
        Schedule joined = Schedules.linearWarmupCosine(0.1, 1.0, 5, 6, 15, 1e-5);
        Schedule composed = Schedules.sequential(Schedules.linearWarmup(0.1, 1.0, 5), 6,
                Schedules.cosineAnnealing(15, 1e-5));
        assertEquals(joined, composed);
        assertEquals("linear_warmup_cosine", composed.toSpec().get("type"));
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("type", "sequential");
        nested.put("first", Schedules.linearWarmup(0.1, 1.0, 5).toSpec());
        nested.put("milestone", 6);
        nested.put("then", Schedules.cosineAnnealing(15, 1e-5).toSpec());
        assertEquals(joined, Schedules.fromSpec(nested));
    }

    @Test
    void specsCarryTheStepUnit() {
        Schedule s = Schedules.sgdr(2, 2, 1e-3);
        assertEquals("step", s.toSpec().get("step_unit"));
        assertEquals(null, s.toSpec().get("steps_per_epoch"));
        assertEquals("fractional_epoch", s.perBatch(4).toSpec().get("step_unit"));
        assertEquals(4L, s.perBatch(4).toSpec().get("steps_per_epoch"));
        assertEquals("epoch", s.perEpoch(4).toSpec().get("step_unit"));
        assertEquals(4L, s.perEpoch(4).toSpec().get("steps_per_epoch"));
        assertEquals(s.perBatch(4), Schedules.perBatch(s, 4));
        assertNotEquals(s.perBatch(4), s.perEpoch(4));
        assertEquals(List.of(4L, 9L), Schedules.multiStepLr(new long[] {4, 9}, 0.5).toSpec()
                .get("milestones"));
    }

    @Test
    void integralFloatsAreAcceptedForIntegerKeys() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("type", "cosine_annealing_lr");
        spec.put("T_max", 15.0);
        spec.put("eta_min", 0);
        assertEquals(Schedules.cosineAnnealing(15, 0.0), Schedules.fromSpec(spec));
        spec.remove("eta_min");
        spec.put("eta_min", -0.0);
        assertEquals(Schedules.cosineAnnealing(15, 0.0), Schedules.fromSpec(spec), "-0.0 folds");
    }

    @Test
    void valueSemantics() {
        long[] milestones = {2, 5};
        MultiStepLr m = (MultiStepLr) Schedules.multiStepLr(milestones, 0.5);
        milestones[0] = 100;
        assertEquals(0.05, m.lr(2, 0.1), 0.0, "the record copied its milestones");
        m.milestones()[1] = 100;
        assertEquals(0.025, m.lr(5, 0.1), 0.0, "the accessor hands out a copy");
        assertEquals(m, Schedules.multiStepLr(new long[] {2, 5}, 0.5));
        assertEquals(m.hashCode(), Schedules.multiStepLr(new long[] {2, 5}, 0.5).hashCode());
        assertEquals("MultiStepLr[milestones=[2, 5], gamma=0.5]", m.toString());
        assertNotEquals(Schedules.sgdr(1, 2, 0), Schedules.sgdr(1, 3, 0));
        assertEquals("CosineWarmRestarts[t0=1, tMult=2, etaMin=0.0]",
                Schedules.sgdr(1, 2, 0).toString());
    }
}
