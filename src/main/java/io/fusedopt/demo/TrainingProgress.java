package io.fusedopt.demo;

import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Reports the demo's progress: a live progress bar on a terminal, or one line per finished run elsewhere (CI logs,
 * files, pipes), where a redrawn bar would leave a line per redraw.
 */
public abstract class TrainingProgress implements AutoCloseable {
    TrainingProgress() {
    }

    /**
     * A reporter for {@code runs} runs of {@code totalSteps} optimizer steps in all, writing to {@code err}: the
     * bar when {@code interactive}, plain lines otherwise. Rejects a negative step count.
     */
    public static TrainingProgress create(PrintStream err, boolean interactive, int runs, long totalSteps) {
        if (totalSteps < 0) {
            throw new IllegalArgumentException("totalSteps must be >= 0, got " + totalSteps);
        }
        return interactive ? new Bar(err, totalSteps) : new Lines(err, runs);
    }

    /** Whether this JVM's standard input and output are a terminal (the bar's precondition). */
    public static boolean stdoutIsTerminal() {
        // Java 17's System.console() is null as soon as input or output is redirected.
        return System.console() != null;
    }

    /** A run of {@code label} starts. */
    public abstract void runStarted(String label);

    /** One optimizer step finished. */
    public abstract void stepped();

    /** A run finished with {@code result}. */
    public abstract void runFinished(RunResult result);

    /** Finishes the report (the bar's last line). */
    @Override
    public abstract void close();

    private static final class Bar extends TrainingProgress {
        private final ProgressBar bar;

        Bar(PrintStream err, long totalSteps) {
            this.bar = new ProgressBarBuilder().setTaskName("training").setInitialMax(totalSteps)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250)
                    .setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(err)).build();
        }

        @Override
        public void runStarted(String label) {
            bar.setExtraMessage(label);
        }

        @Override
        public void stepped() {
            bar.step();
        }

        @Override
        public void runFinished(RunResult result) {
        }

        @Override
        public void close() {
            bar.close();
        }
    }

    private static final class Lines extends TrainingProgress {
        private final PrintStream err;
        private final int runs;
        private int done;

        Lines(PrintStream err, int runs) {
            this.err = err;
            this.runs = runs;
        }

        @Override
        public void runStarted(String label) {
        }

        @Override
        public void stepped() {
        }

        @Override
        public void runFinished(RunResult r) {
            done++;
            err.println(String.format(Locale.ROOT, "[%d/%d] %s %s: loss %.4f, test accuracy %.1f%%, %.1f s", done,
                    runs, r.optimizer().label(), r.scheduleChoice().id(), r.finalTrainLoss(),
                    100 * r.testAccuracy(), r.wallSeconds()));
            err.flush();
        }

        @Override
        public void close() {
        }
    }
}
