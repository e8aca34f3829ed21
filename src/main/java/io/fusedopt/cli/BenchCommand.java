package io.fusedopt.cli;

import io.fusedopt.Device;
import io.fusedopt.core.FusedOptException;
import io.fusedopt.bench.BandwidthProbe;
import io.fusedopt.bench.BenchOptimizers;
import io.fusedopt.bench.BenchResult;
import io.fusedopt.bench.CudaCopyBandwidth;
import io.fusedopt.bench.Machine;
import io.fusedopt.bench.ModelLayout;
import io.fusedopt.bench.StepBench;
import io.fusedopt.bench.StepTiming;
import io.fusedopt.bench.StreamBandwidth;
import io.fusedopt.core.CudaUnavailableException;
import io.fusedopt.core.Dtype;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bench}: times optimizer steps and relates them to the same run's memory bandwidth. Per configuration it
 * reports the median step time (synchronized), the bytes one step must move, the effective GB/s, and that as a
 * fraction of the reference bandwidth (CPU: an in-place stream on all cores; CUDA: a device-to-device copy),
 * timed once after every step so that both share the same time window.
 *
 * <p>Exit 0 on success; 2 for an invalid option (unknown optimizer, backend or model, {@code --params},
 * {@code --steps} or {@code --bandwidth-elements} below 1, {@code --warmup} below 0, or both {@code --params}
 * and {@code --model}, an unknown {@code --dtype}, {@code --master} with fp32); 1 when the backend cannot be used or the arena does not fit.
 */
@Command(name = "bench", description = {
        "Time optimizer steps and compare the bytes they move with the same run's memory bandwidth.",
        "Optimizer names are those of the library, except that sgd and sgdw mean momentum 0.9 (the benchmarked"
                + " configuration); sgd-plain is SGD without momentum, adamw-amsgrad AdamW with AMSGrad.",
        "The reference is timed once after every step, so that both share the machine's state: on the CPU an"
                + " in-place stream a[i] = s*a[i] + b[i] over two arrays on all cores (12 B/element), on CUDA"
                + " cuMemcpyDtoD of a large buffer (2 x its size). Figures are medians; GB = 10^9 bytes.",
        "Exit status: 0 done, 1 backend not usable or out of memory, 2 invalid option."})
final class BenchCommand implements Callable<Integer> {
    static final long DEFAULT_PARAMS = 16_777_216L;

    @Spec
    CommandSpec spec;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "cpu|cuda|auto",
            description = "Backend to run on (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--optimizer", defaultValue = "adamw", paramLabel = "NAME|all", completionCandidates = Names.class,
            description = "Optimizer to time, or all (default: ${DEFAULT-VALUE}). Names, every configuration of the"
                    + " registry (sgd and sgdw mean momentum 0.9): ${COMPLETION-CANDIDATES}.")
    String optimizer;

    /** Every bench configuration, from the registry. */
    static final class Names implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return BenchOptimizers.NAMES.iterator();
        }
    }

    @Option(names = "--params", paramLabel = "N",
            description = "One tensor of N parameters; N may exceed 2^31 (default: " + DEFAULT_PARAMS + ").")
    Long params;

    @Option(names = "--model", paramLabel = "gpt2-small",
            description = "Lay out a model's tensors instead: gpt2-small (148 tensors, 124,439,808 parameters).")
    String model;

    @Option(names = "--steps", defaultValue = "20", paramLabel = "N",
            description = "Measured steps; the median is reported (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "5", paramLabel = "N",
            description = "Untimed steps before the measured ones (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--dtype", defaultValue = "fp32", paramLabel = "fp32|bf16|fp16",
            description = "Storage of the parameters and gradients (and, without --master, the states); default:"
                    + " ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--master", description = "Keep float32 master weights and states for bf16/fp16 parameters.")
    boolean master;

    @Option(names = "--json", description = "Print one JSON object per configuration per line instead of a table.")
    boolean json;

    @Option(names = "--bandwidth-elements", defaultValue = "" + StreamBandwidth.DEFAULT_ELEMENTS, paramLabel = "N",
            description = "Floats per array of the CPU stream reference (default: ${DEFAULT-VALUE}); keep it far"
                    + " beyond the caches.")
    int bandwidthElements;

    @Override
    public Integer call() {
        String invalid = validate();
        if (invalid != null) {
            throw Main.usage(spec, invalid);
        }
        List<String> names = BenchOptimizers.select(optimizer);
        ModelLayout layout = model != null ? ModelLayout.named(model)
                : ModelLayout.single(params != null ? params : DEFAULT_PARAMS);
        // Notes go to stderr under --json so that stdout stays one JSON object per line.
        PrintStream out = System.out;
        PrintStream notes = json ? System.err : System.out;
        Device device;
        try {
            device = Device.of(backend);
        } catch (CudaUnavailableException e) {
            System.err.println("error: --backend " + backend + ": CUDA is not usable: " + e.getMessage());
            return 1;
        }
        try (device) {
            device.fallbackReason().ifPresent(notes::println);
            boolean standIn = "cuda".equals(device.name())
                    && device.description().toLowerCase(Locale.ROOT).contains("stand-in");
            if (standIn) {
                notes.println("NOTE: the CUDA device is the CPU stand-in (" + device.description() + "): this run"
                        + " checks that bench works, its timings and bandwidth figures are meaningless.");
            }
            boolean cuda = "cuda".equals(device.name());
            Supplier<BandwidthProbe> reference = cuda ? () -> CudaCopyBandwidth.open(device)
                    : () -> StreamBandwidth.open(bandwidthElements);
            if (!json) {
                out.println(String.format(Locale.ROOT, "%-14s %-7s %13s %7s %10s %7s %10s %8s %8s %8s",
                        "optimizer", "backend", "params", "tensors", "step ms", "B/param", "MB/step", "GB/s",
                        "ref GB/s", "of ref"));
            }
            String pattern = null;
            for (String name : names) {
                StepTiming t;
                try {
                    t = StepBench.run(device, name, layout, warmup, steps, reference, Dtype.parse(dtype), master);
                } catch (OutOfMemoryError e) {
                    System.err.println("error: " + name + ": out of Java heap for " + layout.parameterCount()
                            + " parameters, their state and the stream reference (2 x " + bandwidthElements
                            + " floats); raise -Xmx or lower --bandwidth-elements");
                    return 1;
                }
                pattern = t.reference().pattern();
                BenchResult r = BenchResult.of(t);
                if (json) {
                    out.println(r.toJson());
                } else {
                    out.println(String.format(Locale.ROOT, "%-14s %-7s %13d %7d %10.3f %7d %10.1f %8.2f %8.2f %7.1f%%",
                            r.optimizer(), r.backend(), r.params(), r.tensors(), r.stepMsMedian(),
                            t.bytesPerParameter(), r.bytesPerStep() / 1e6, r.gbps(), r.bandwidthGbps(),
                            100 * r.fractionOfBandwidth()));
                }
                out.flush();
                // Frees the previous arena now rather than during the next configuration's timed steps.
                System.gc();
            }
            if (!json) {
                out.println(String.format(Locale.ROOT, "step ms: median of %d steps after %d warm-up steps,"
                        + " synchronized; GB = 10^9 bytes; of ref = GB/s / ref GB/s", steps, warmup));
                out.println("bandwidth reference (ref GB/s): " + pattern + "; timed once after every step, median");
                out.println("device: " + device);
                out.println("machine: " + Machine.describe());
                out.println("storage: " + dtype + (master ? " parameters and gradients, float32 master weights"
                        + " and states" : " parameters, gradients and states"));
            }
            return 0;
        } catch (FusedOptException e) {
            System.err.println("error: " + e.getMessage());
            return 1;
        }
    }

    /** The one-line message for the first invalid option, or null when all are valid. */
    private String validate() {
        String b = backend == null ? "" : backend.toLowerCase(Locale.ROOT);
        if (!List.of("auto", "cpu", "cuda").contains(b)) {
            return "invalid value for --backend: " + backend + " (expected cpu, cuda or auto)";
        }
        if (!"all".equals(optimizer) && !BenchOptimizers.NAMES.contains(optimizer)) {
            return "invalid value for --optimizer: " + optimizer + " (expected all or one of "
                    + String.join(", ", BenchOptimizers.NAMES) + ")";
        }
        if (params != null && model != null) {
            return "--params " + params + " and --model " + model + " exclude each other; give one";
        }
        if (params != null && params < 1) {
            return "invalid value for --params: " + params + " (must be >= 1)";
        }
        if (model != null && !"gpt2-small".equals(model)) {
            return "invalid value for --model: " + model + " (expected gpt2-small)";
        }
        if (steps < 1) {
            return "invalid value for --steps: " + steps + " (must be >= 1)";
        }
        if (!List.of("fp32", "bf16", "fp16").contains(dtype)) {
            return "invalid value for --dtype: " + dtype + " (expected fp32, bf16 or fp16)";
        }
        if (master && "fp32".equals(dtype)) {
            return "--master needs --dtype bf16 or fp16: float32 parameters need no master copy";
        }
        if (warmup < 0) {
            return "invalid value for --warmup: " + warmup + " (must be >= 0)";
        }
        if (bandwidthElements < 1) {
            return "invalid value for --bandwidth-elements: " + bandwidthElements + " (must be >= 1)";
        }
        return null;
    }
}
