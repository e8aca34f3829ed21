package io.fusedopt.demo;

import io.fusedopt.Device;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The {@code demo} command's work: trains the digits MLP with every chosen optimizer under every chosen schedule on
 * one backend, prints a comparison table, and writes the curves as CSV and as a PNG chart.
 */
public final class DigitsDemo {
    /** Default epochs per run: about a minute for all twenty runs on two CPU cores. */
    public static final int DEFAULT_EPOCHS = 30;
    /** Default seed of the initialisation and the batch order. */
    public static final long DEFAULT_SEED = 42;
    /** The test accuracy every adaptive optimizer reaches with the default settings. */
    public static final double ADAPTIVE_TARGET = 0.95;
    /** The CSV's file name inside the output folder. */
    public static final String CSV_NAME = "training-curves.csv";
    /** The chart's file name inside the output folder. */
    public static final String PNG_NAME = "training-curves.png";

    private DigitsDemo() {
    }

    /**
     * What to run.
     *
     * @param epochs epochs per run, at least 1
     * @param batchSize samples per mini-batch, at least 1
     * @param seed seed of the He initialisation and the batch order
     * @param optimizers optimizers to compare, non-empty, no repeats
     * @param schedules schedules to compare, non-empty, no repeats
     * @param backend {@code auto}, {@code cpu} or {@code cuda}
     * @param out folder for the CSV and the PNG
     * @param interactive whether to draw a live progress bar (otherwise one line per run)
     */
    public record Options(int epochs, int batchSize, long seed, List<OptimizerChoice> optimizers,
            List<ScheduleChoice> schedules, String backend, Path out, boolean interactive) {
        /** Copies the lists; rejects values outside the ranges above and a null folder or backend. */
        public Options {
            if (epochs < 1) {
                throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            }
            optimizers = distinctNonEmpty(optimizers, "--optimizers");
            schedules = distinctNonEmpty(schedules, "--schedules");
            if (backend == null) {
                throw new IllegalArgumentException("backend must not be null");
            }
            if (out == null) {
                throw new IllegalArgumentException("--out must not be null");
            }
        }
    }

    private static <T> List<T> distinctNonEmpty(List<T> values, String option) {
        if (values == null || values.isEmpty()) {
            throw new IllegalArgumentException(option + " needs at least one value");
        }
        List<T> copy = new ArrayList<>();
        for (T v : values) {
            if (copy.contains(v)) {
                throw new IllegalArgumentException(option + " names " + v.toString().toLowerCase(Locale.ROOT)
                        + " twice");
            }
            copy.add(v);
        }
        return List.copyOf(copy);
    }

    /**
     * Runs the demo: lines about the backend, the data and the model, then the table, to {@code out}; progress to
     * {@code err}. Returns the runs in table order.
     *
     * @throws io.fusedopt.core.CudaUnavailableException when {@code cuda} was asked for and cannot work here
     * @throws IOException when the CSV or the PNG cannot be written
     */
    public static List<RunResult> run(Options options, PrintStream out, PrintStream err) throws IOException {
        Digits.Split split = Digits.split(Digits.load());
        Trainer trainer = new Trainer(split, options.epochs(), options.batchSize(), options.seed());
        List<RunResult> results = new ArrayList<>();
        try (Device device = openDevice(options.backend(), out)) {
            out.println("backend: " + device);
            out.printf(Locale.ROOT, "data: %d training and %d test digits (fixed stratified split), pixels scaled"
                    + " to [0, 1]%n", split.train().size(), split.test().size());
            out.printf(Locale.ROOT, "model: MLP 64-128-128-10 (ReLU, softmax cross-entropy), %,d parameters; "
                    + "%d epochs of %d batches of %d, seed %d%n", Mlp.parameterCount(), trainer.epochs(),
                    trainer.stepsPerEpoch(), trainer.batchSize(), options.seed());
            out.flush();
            if (!"cuda".equals(device.name())) {
                trainer.warmUp(); // the host model's loops; the device path has none to compile
            }
            int runs = options.optimizers().size() * options.schedules().size();
            try (TrainingProgress progress = TrainingProgress.create(err, options.interactive(), runs,
                    trainer.stepsPerRun() * runs)) {
                for (OptimizerChoice optimizer : options.optimizers()) {
                    for (ScheduleChoice schedule : options.schedules()) {
                        progress.runStarted(optimizer.label() + " " + schedule.id());
                        RunResult r = trainer.train(device, optimizer, schedule, progress::stepped);
                        progress.runFinished(r);
                        results.add(r);
                    }
                }
            }
        }
        out.println();
        out.print(table(results));
        double total = results.stream().mapToDouble(RunResult::wallSeconds).sum();
        out.printf(Locale.ROOT, "%d runs, %.1f s of training%n", results.size(), total);
        for (RunResult r : results) {
            // Only a run at least as long as the default one is held to the target.
            if (options.epochs() >= DEFAULT_EPOCHS && r.optimizer().adaptive()
                    && !(r.testAccuracy() >= ADAPTIVE_TARGET)) {
                out.printf(Locale.ROOT, "note: %s %s reached %.1f%%, below the %.0f%% the adaptive methods reach"
                        + " with the default epochs%n", r.optimizer().label(), r.scheduleChoice().id(),
                        100 * r.testAccuracy(), 100 * ADAPTIVE_TARGET);
            }
        }
        Path csv = options.out().resolve(CSV_NAME);
        Path png = options.out().resolve(PNG_NAME);
        DemoCsv.write(results, csv);
        DemoCharts.write(results, png);
        out.println();
        out.println("wrote " + csv + " and " + png);
        out.println("data: " + Digits.ATTRIBUTION);
        return results;
    }

    /**
     * The device named {@code backend}, announcing on {@code out} why {@code auto} fell back to the CPU. On CUDA
     * it checks JCublas: when JCublas works, it says in one line that training runs on the device
     * ({@link DeviceMlp}); when JCublas cannot load, it says so in one line and returns the CPU device instead.
     *
     * @throws IllegalArgumentException for a name other than auto, cpu or cuda
     * @throws io.fusedopt.core.CudaUnavailableException for {@code cuda} when CUDA cannot work here
     */
    public static Device openDevice(String backend, PrintStream out) {
        Device device = Device.of(backend);
        device.fallbackReason().ifPresent(out::println);
        if ("cuda".equals(device.name())) {
            Optional<String> why = CublasProbe.unavailableReason();
            if (why.isPresent()) {
                out.println("JCublas unavailable (" + why.get() + "); training on the CPU backend");
                device.close();
                return Device.cpu();
            }
            out.println("JCublas loads: the whole training step runs on the device (cuBLAS matrix products,"
                    + " demo kernels, fused optimizer step)");
        }
        return device;
    }

    /** The comparison table, one row per run, with a header and a trailing newline. */
    public static String table(List<RunResult> results) {
        StringBuilder sb = new StringBuilder();
        String format = "%-16s %-9s %8s %11s %9s %7s %8s%n";
        sb.append(String.format(Locale.ROOT, format, "optimizer", "schedule", "base lr", "train loss", "test acc",
                "wall s", "steps/s"));
        for (RunResult r : results) {
            sb.append(String.format(Locale.ROOT, format, r.optimizer().label(), r.scheduleChoice().id(),
                    DemoCharts.rate(r.optimizer().lr()),
                    String.format(Locale.ROOT, "%.3g", r.finalTrainLoss()),
                    String.format(Locale.ROOT, "%.1f%%", 100 * r.testAccuracy()),
                    String.format(Locale.ROOT, "%.1f", r.wallSeconds()),
                    String.format(Locale.ROOT, "%.0f", r.stepsPerSecond())));
        }
        return sb.toString();
    }
}
