package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.ModelLayout;
import io.fusedopt.bench.StepBench;
import java.util.ArrayList;
import java.util.List;
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

/**
 * AdamW over GPT-2 small's 148 tensors: one arena stepped at once ({@code fused}: one launch per pass on CUDA,
 * one fork/join on the CPU) against one store and optimizer per tensor stepped in turn ({@code perTensor}: one
 * launch per tensor, the multi-tensor-apply-less baseline). Each benchmark has its own state, so a trial holds only
 * one of the two arenas.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class PerTensorBenchmark {
    /** The device, shared by both states of a trial. */
    @State(Scope.Benchmark)
    public static class DeviceState {
        /** cpu or cuda; the launcher sets the usable ones. */
        @Param({"cpu"})
        public String backend;

        Device device;

        /** Opens the device. */
        @Setup
        public void open() {
            device = Device.of(backend);
        }

        /** Closes the device (after the states that use it: JMH tears down dependants first). */
        @TearDown
        public void close() {
            Closing.all(device);
        }
    }

    /** All 148 tensors in one arena, one optimizer. */
    @State(Scope.Benchmark)
    public static class Fused {
        ParameterStore store;
        Optimizer opt;

        /** Allocates and fills the arena and builds AdamW on it. */
        @Setup
        public void setup(DeviceState b) {
            store = ModelLayout.gpt2Small().build(b.device);
            StepBench.fill(store);
            opt = Optimizers.adamW().build(store);
        }

        /** Frees the optimizer and the arena. */
        @TearDown
        public void tearDown() {
            Closing.all(opt, store);
        }
    }

    /** One store and one AdamW per tensor. */
    @State(Scope.Benchmark)
    public static class PerTensor {
        final List<ParameterStore> stores = new ArrayList<>();
        final List<Optimizer> opts = new ArrayList<>();

        /** Allocates, fills and builds one store and optimizer per tensor. */
        @Setup
        public void setup(DeviceState b) {
            for (ModelLayout.Entry e : ModelLayout.gpt2Small().entries()) {
                ParameterStore s = ParameterStore.builder().add(e.name(), e.shape()).build(b.device);
                stores.add(s);
                StepBench.fill(s);
                opts.add(Optimizers.adamW().build(s));
            }
        }

        /** Frees every optimizer and store. */
        @TearDown
        public void tearDown() {
            Closing.all(opts.toArray(new AutoCloseable[0]));
            Closing.all(stores.toArray(new AutoCloseable[0]));
        }
    }

    /** One step of the single arena. */
    @Benchmark
    public void fused(Fused f) {
        f.opt.step();
        f.opt.synchronize();
    }

    /** One step of each of the 148 optimizers, then one wait. */
    @Benchmark
    public void perTensor(PerTensor p) {
        for (Optimizer o : p.opts) {
            o.step();
        }
        p.opts.get(p.opts.size() - 1).synchronize();
    }
}
