package io.fusedopt.cli;

import io.fusedopt.Device;
import io.fusedopt.checkpoint.Printable;
import io.fusedopt.core.CudaUnavailableException;
import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenFormatException;
import io.fusedopt.golden.GoldenRunner;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code verify}: replays golden cases on a backend, one line per case and a closing {@code N passed, M failed}.
 * Exit {@value #PASSED} when all pass, {@value #FAILED} when any fails, {@value #BAD_CASE} when a case file cannot
 * be read or is invalid (or the command line is), {@value #NO_BACKEND} when the backend asked for cannot be used
 * here ({@code --backend cuda} without a usable driver or device). Names and messages from case files are printed
 * with their non-printable characters escaped.
 */
@Command(name = "verify", description = "Replay golden conformance cases on a backend.",
        exitCodeListHeading = "Exit codes:%n", exitCodeList = {"0:every case passed", "1:a case failed",
            "2:a case file is unreadable or invalid, or a usage error", "3:the backend asked for is not usable here"})
final class VerifyCommand implements Callable<Integer> {
    /** Exit status: every case passed. */
    static final int PASSED = 0;
    /** Exit status: a case failed. */
    static final int FAILED = 1;
    /** Exit status: a case file is unreadable or invalid, or the command line is. */
    static final int BAD_CASE = 2;
    /** Exit status: the backend asked for is not usable here. */
    static final int NO_BACKEND = 3;

    @Option(names = "--cases", paramLabel = "DIR", description = "Directory of case files (default: the cases bundled in the jar).")
    Path cases;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda", description = "Backend to run on (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--compare", paramLabel = "cpu", description = "Also run each case on this backend and fail it if any bit of any tensor or state differs.")
    String compare;

    @Override
    public Integer call() {
        if (compare != null && !"cpu".equals(compare)) {
            line(System.err, "error: --compare takes cpu, got " + compare);
            return BAD_CASE;
        }
        List<GoldenCase> all;
        try {
            all = CaseFiles.load(cases);
        } catch (GoldenFormatException e) {
            line(System.err, "error: " + e.getMessage());
            return BAD_CASE;
        }
        Device opened;
        try {
            opened = Device.of(backend);
        } catch (CudaUnavailableException e) {
            line(System.err, "error: --backend " + backend + ": " + e.getMessage());
            return NO_BACKEND;
        }
        try (Device device = opened; Device reference = compare == null ? null : Device.cpu()) {
            device.fallbackReason().ifPresent(r -> line(System.out, r));
            line(System.out, "backend: " + device);
            int passed = 0, failed = 0, skipped = 0;
            for (GoldenCase c : all) {
                if (!c.runnable()) {
                    // FORMAT.md: a harness skips a case with a field it does not implement, and never ignores it.
                    line(System.out, String.format("%-34s skip  %s", c.name(), String.join("; ", c.unsupported())));
                    skipped++;
                    continue;
                }
                String line;
                boolean ok;
                try {
                    GoldenRunner.Result r = GoldenRunner.run(c, device);
                    ok = r.passed();
                    line = String.format("%-34s %s  worst %.3g x tolerance", c.name(), ok ? "pass" : "FAIL", r.worst());
                    if (!ok) {
                        line += " at " + r.where();
                    }
                    if (ok && reference != null) {
                        String diff = GoldenRunner.compareBits(c, device, reference);
                        if (diff != null) {
                            ok = false;
                            line = String.format("%-34s FAIL  differs from cpu: %s", c.name(), diff);
                        } else {
                            line += ", bit-identical to cpu";
                        }
                    }
                } catch (IllegalArgumentException | IllegalStateException e) {
                    // The case's settings are invalid (a bad hyperparameter, a schedule that yields an invalid
                    // rate): the file is at fault, not the backend.
                    line(System.err, "error: " + c.file() + ": " + e.getMessage());
                    return BAD_CASE;
                }
                line(System.out, line);
                if (ok) {
                    passed++;
                } else {
                    failed++;
                }
            }
            System.out.println(passed + " passed, " + failed + " failed" + (skipped > 0 ? ", " + skipped + " skipped" : ""));
            return failed == 0 ? PASSED : FAILED;
        }
    }

    /** Prints one line that may quote a case file, escaped. */
    private static void line(java.io.PrintStream out, String text) {
        out.println(Printable.escape(text));
    }
}
