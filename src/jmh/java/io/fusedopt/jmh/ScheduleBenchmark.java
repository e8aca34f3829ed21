package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.BenchOptimizers;
import io.fusedopt.rule.Rule;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The host-side work of a step, in nanoseconds: the learning rate of an SGDR schedule stepped per batch
 * ({@code Schedules.sgdr(10, 2, 1e-5).perBatch(1000)}) and the rule's per-step scalars, for one parameter group
 * (the usual case) and for 148 groups (one per GPT-2 small tensor, the worst case); and a whole
 * {@code Optimizer.step()} on a one-element tensor, where the step is nothing but that overhead.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ScheduleBenchmark {
    /** The configuration whose scalars are computed. */
    @Param({"adamw", "sgd", "radam", "nadam", "adabelief", "lamb"})
    public String optimizer;

    private static final int GROUPS = 148;

    private Device device;
    private ParameterStore tiny;
    private ParameterStore many;
    private Optimizer tinyOpt;
    private Optimizer manyOpt;
    private Rule oneGroup;
    private Rule allGroups;
    private Schedule schedule;
    private float[] out;
    private long step;

    /** Builds the rules (one with one group, one with 148) on tiny CPU stores. */
    @Setup
    public void setup() {
        device = Device.cpu();
        tiny = ParameterStore.builder().add("x", 1).build(device);
        tinyOpt = BenchOptimizers.builder(optimizer).schedule(Schedules.sgdr(10, 2, 1e-5).perBatch(1000)).build(tiny);
        oneGroup = tinyOpt.rule();
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < GROUPS; i++) {
            b.add("t" + i, 1);
        }
        many = b.build(device);
        var builder = BenchOptimizers.builder(optimizer);
        for (int i = 1; i < GROUPS; i++) {
            builder.group("g" + i, x -> { }, "t" + i);
        }
        manyOpt = builder.build(many);
        allGroups = manyOpt.rule();
        schedule = Schedules.sgdr(10, 2, 1e-5).perBatch(1000);
        out = new float[oneGroup.scalarCount() * GROUPS];
    }

    /** The rate and the scalars of one group for the next step. */
    @Benchmark
    public void oneGroup(Blackhole bh) {
        long s = step++;
        double lr = schedule.lr(s, oneGroup.baseLr(0));
        oneGroup.scalars(0, s + 1, lr, out, 0);
        bh.consume(out);
    }

    /** The rates and the scalars of 148 groups for the next step. */
    @Benchmark
    public void groups148(Blackhole bh) {
        long s = step++;
        int k = allGroups.scalarCount();
        for (int gi = 0; gi < GROUPS; gi++) {
            double lr = schedule.lr(s, allGroups.baseLr(gi));
            allGroups.scalars(gi, s + 1, lr, out, gi * k);
        }
        bh.consume(out);
    }

    /** A whole step of a one-element tensor: schedule, scalars, and the pass machinery around one element. */
    @Benchmark
    public void stepOneElement() {
        tinyOpt.step();
    }

    /** Frees the optimizers, stores and device. */
    @TearDown
    public void tearDown() {
        Closing.all(tinyOpt, manyOpt, tiny, many, device);
    }
}
