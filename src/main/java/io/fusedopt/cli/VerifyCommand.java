package io.fusedopt.cli;

import io.fusedopt.Device;
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
 * Exit 0 when all pass, 1 when any fails, 2 when a case file cannot be read or is invalid.
 */
@Command(name = "verify", description = "Replay golden conformance cases on a backend.")
final class VerifyCommand implements Callable<Integer> {
    @Option(names = "--cases", paramLabel = "DIR", description = "Directory of case files (default: the cases bundled in the jar).")
    Path cases;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda", description = "Backend to run on (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--compare", paramLabel = "cpu", description = "Also run each case on this backend and fail it if any bit of any tensor or state differs.")
    String compare;

    @Override
    public Integer call() {
        if (compare != null && !"cpu".equals(compare)) {
            System.err.println("error: --compare takes cpu, got " + compare);
            return 2;
        }
        List<GoldenCase> all;
        try {
            all = CaseFiles.load(cases);
        } catch (GoldenFormatException e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        }
        try (Device device = Device.of(backend); Device reference = compare == null ? null : Device.cpu()) {
            device.fallbackReason().ifPresent(r -> System.out.println(r));
            System.out.println("backend: " + device);
            int passed = 0, failed = 0, skipped = 0;
            for (GoldenCase c : all) {
                if (!c.runnable()) {
                    // FORMAT.md: a harness skips a case with a field it does not implement, and never ignores it.
                    System.out.println(String.format("%-34s skip  %s", c.name(), String.join("; ", c.unsupported())));
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
                    System.err.println("error: " + c.file() + ": " + e.getMessage());
                    return 2;
                }
                System.out.println(line);
                if (ok) {
                    passed++;
                } else {
                    failed++;
                }
            }
            System.out.println(passed + " passed, " + failed + " failed" + (skipped > 0 ? ", " + skipped + " skipped" : ""));
            return failed == 0 ? 0 : 1;
        }
    }
}
