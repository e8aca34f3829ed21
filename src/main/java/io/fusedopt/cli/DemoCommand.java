package io.fusedopt.cli;

import io.fusedopt.core.CudaUnavailableException;
import io.fusedopt.demo.DigitsDemo;
import io.fusedopt.demo.OptimizerChoice;
import io.fusedopt.demo.ScheduleChoice;
import io.fusedopt.demo.TrainingProgress;
import io.fusedopt.demo.Trainer;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code demo}: trains a small MLP on the bundled handwritten digits with each chosen optimizer, under a constant
 * rate and under SGDR, prints a comparison table and writes the curves (CSV and PNG) to {@code --out}.
 * Exit 0 on success; 2 for an unknown optimizer, schedule or backend name, or a count below 1; 1 when the chosen
 * backend cannot be used here or the output cannot be written.
 */
@Command(name = "demo", description = "Train an MLP on handwritten digits with each optimizer, constant rate and SGDR;"
        + " print a table and write a chart and a CSV of the curves.")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs per run (default: ${DEFAULT-VALUE}).")
    int epochs = DigitsDemo.DEFAULT_EPOCHS;

    @Option(names = "--batch-size", paramLabel = "N", description = "Samples per mini-batch (default: ${DEFAULT-VALUE}).")
    int batchSize = Trainer.DEFAULT_BATCH_SIZE;

    @Option(names = "--optimizers", split = ",", paramLabel = "NAME", completionCandidates = Names.class,
            description = "Optimizers to compare, from: ${COMPLETION-CANDIDATES} (default: "
                    + "the demo's ten: sgd, adam, adamw, radam, adabelief, adabound, yogi, lamb, swats, lookahead).")
    List<String> optimizers;

    /** Every optimizer the demo accepts, from the registry. */
    static final class Names implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return OptimizerChoice.ids().iterator();
        }
    }

    @Option(names = "--schedules", split = ",", paramLabel = "NAME",
            description = "Schedules to compare: constant, sgdr (default: both).")
    List<String> schedules;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda",
            description = "Backend of the training steps; cuda needs JCublas, else the demo falls back to cpu"
                    + " (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--out", defaultValue = "demo-out", paramLabel = "DIR",
            description = "Folder for training-curves.csv and training-curves.png (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the initialisation and the batch order"
            + " (default: ${DEFAULT-VALUE}).")
    long seed = DigitsDemo.DEFAULT_SEED;

    @Override
    public Integer call() {
        // Before any AWT class loads: the chart is drawn off-screen, and CI machines have no display.
        System.setProperty("java.awt.headless", "true");
        DigitsDemo.Options options;
        try {
            if (!List.of("auto", "cpu", "cuda").contains(backend)) {
                throw new IllegalArgumentException("--backend must be auto, cpu or cuda, got '" + backend + "'");
            }
            options = new DigitsDemo.Options(epochs, batchSize, seed,
                    parse(optimizers, OptimizerChoice::named, OptimizerChoice.defaults()),
                    parse(schedules, ScheduleChoice::named, List.of(ScheduleChoice.values())),
                    backend, out, TrainingProgress.stdoutIsTerminal());
        } catch (IllegalArgumentException e) {
            throw Main.usage(spec, e.getMessage());
        }
        // Minutes of training must not end in finding that the results cannot be written.
        String unwritable = unwritable(out);
        if (unwritable != null) {
            System.err.println("error: cannot write the results to " + out + ": " + unwritable);
            return 1;
        }
        try {
            DigitsDemo.run(options, System.out, System.err);
            return 0;
        } catch (CudaUnavailableException e) {
            System.err.println("error: --backend cuda: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            System.err.println("error: cannot write the results to " + out + ": " + e.getMessage());
            return 1;
        }
    }

    /**
     * Why files cannot be written in {@code dir} (creating it when missing), or null when they can: tried by
     * creating and deleting a file there.
     */
    static String unwritable(Path dir) {
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".write-check-", ".tmp");
            Files.delete(probe);
            return null;
        } catch (FileAlreadyExistsException e) {
            return "a file of that name exists and is not a directory";
        } catch (AccessDeniedException e) {
            return "permission denied";
        } catch (IOException | UnsupportedOperationException e) {
            return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        }
    }

    /** The choices named in {@code names}, or {@code all} when the option was not given. */
    private static <T> List<T> parse(List<String> names, Function<String, T> byName, List<T> all) {
        if (names == null) {
            return all;
        }
        List<T> chosen = new ArrayList<>();
        for (String n : names) {
            chosen.add(byName.apply(n));
        }
        return chosen;
    }
}
