package io.fusedopt.demo;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Writes the demo's curves as CSV: a header, then one row per run and epoch with the columns
 * {@code optimizer, schedule, epoch, step, train_loss, test_accuracy, lr} (see {@link EpochPoint}; epoch 0 is
 * the initial parameters). Names are the command-line ones,
 * numbers use a dot as decimal separator whatever the locale, and a non-finite loss is written as {@code NaN} or
 * {@code Infinity}.
 */
public final class DemoCsv {
    /** The header row. */
    public static final String HEADER = "optimizer,schedule,epoch,step,train_loss,test_accuracy,lr";

    private DemoCsv() {
    }

    /**
     * Writes {@code runs} to {@code csv}, creating parent folders and replacing an existing file.
     *
     * @throws IOException when the file cannot be written
     */
    public static void write(List<RunResult> runs, Path csv) throws IOException {
        Path parent = csv.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (BufferedWriter w = Files.newBufferedWriter(csv, StandardCharsets.UTF_8)) {
            w.write(HEADER);
            w.newLine();
            for (RunResult r : runs) {
                for (EpochPoint p : r.curve()) {
                    // %.9g keeps every bit of a float-derived value readable while staying short.
                    w.write(String.format(Locale.ROOT, "%s,%s,%d,%d,%s,%s,%s", r.optimizer().id(),
                            r.scheduleChoice().id(), p.epoch(), p.step(), number(p.trainLoss()),
                            number(p.testAccuracy()), number(p.lr())));
                    w.newLine();
                }
            }
        }
    }

    private static String number(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.9g", v) : Double.toString(v);
    }
}
