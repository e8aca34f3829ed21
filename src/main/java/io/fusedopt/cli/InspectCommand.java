package io.fusedopt.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.checkpoint.Printable;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code inspect FILE}: prints a checkpoint's format version, rule, step, hyperparameters per group, schedule, and
 * every entry's name, dtype, shape and checksum status. Exit 0 when every checksum matches; exit 2, with one line
 * {@code error: FILE: problem} on standard error, when the file cannot be read, is truncated or corrupt, or (after
 * the table) when a checksum does not match. Everything printed from the file has its non-printable characters
 * escaped ({@link Printable#escape}), so a hostile name cannot drive the terminal.
 */
@Command(name = "inspect", description = "Show what an optimizer checkpoint holds and check its checksums.")
final class InspectCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Parameters(paramLabel = "FILE", description = "A checkpoint written by Optimizer.saveState.")
    Path file;

    @Override
    public Integer call() {
        Checkpoint.Info info;
        try {
            info = Checkpoint.inspect(file);
        } catch (CheckpointException e) {
            line(System.err, "error: " + e.getMessage());
            return 2;
        }
        PrintStream out = System.out;
        Map<String, Object> d = info.optimizer();
        line(out, "file:       " + file);
        line(out, "format:     " + info.formatVersion());
        line(out, "header:     " + (info.headerChecksum() == null
                ? "no header checksum (format 1): the metadata is not verified"
                : "crc32c " + info.headerChecksum() + " ok"));
        line(out, "optimizer:  " + rule(d));
        line(out, "step:       " + info.step() + " (skipped " + info.skippedSteps() + ")");
        line(out, "schedule:   " + json(d.get("schedule")));
        line(out, "non_finite: " + d.get("non_finite"));
        if (d.get("groups") instanceof List<?> groups) {
            for (Object o : groups) {
                if (o instanceof Map<?, ?> g) {
                    line(out, "group '" + g.get("name") + "': " + hyper(g.get("hyperparams")) + "; tensors "
                            + names(g.get("tensors")));
                }
            }
        }
        line(out, "slots:      " + (info.slots().isEmpty() ? "(none)" : String.join(", ", info.slots()))
                + (info.tensorStateWidth() > 0 ? "; per-tensor state width " + info.tensorStateWidth() : ""));
        printEntries(out, info.entries());
        List<Checkpoint.Entry> bad = info.mismatches();
        line(out, info.entries().size() + " entries, " + bad.size() + " checksum mismatch"
                + (bad.size() == 1 ? "" : "es"));
        if (!bad.isEmpty()) {
            StringJoiner names = new StringJoiner(", ");
            bad.stream().limit(5).forEach(e -> names.add(e.name()));
            line(System.err, "error: " + file + ": checksum mismatch in " + bad.size() + " of "
                    + info.entries().size() + " entries (" + names + (bad.size() > 5 ? ", ..." : "")
                    + "): the file is corrupt");
            return 2;
        }
        return 0;
    }

    /** Prints one line of text that may quote the file, escaped. */
    private static void line(PrintStream out, String text) {
        out.println(Printable.escape(text));
    }

    private static String rule(Map<String, Object> d) {
        if (d.get("lookahead") instanceof Map<?, ?> la) {
            return "lookahead (k=" + la.get("k") + ", alpha=" + la.get("alpha") + ") over " + la.get("inner");
        }
        return String.valueOf(d.get("optimizer"));
    }

    private static String hyper(Object h) {
        if (!(h instanceof Map<?, ?> m)) {
            return json(h);
        }
        StringJoiner j = new StringJoiner(", ");
        m.forEach((k, v) -> j.add(k + "=" + json(v)));
        return j.toString();
    }

    private static String names(Object tensors) {
        if (tensors instanceof List<?> l) {
            if (l.isEmpty()) {
                return "(none)";
            }
            StringJoiner j = new StringJoiner(", ");
            l.forEach(t -> j.add(String.valueOf(t)));
            return j.toString();
        }
        return json(tensors);
    }

    private static String json(Object v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            return String.valueOf(v);
        }
    }

    private static void printEntries(PrintStream out, List<Checkpoint.Entry> entries) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "DTYPE", "SHAPE", "CRC32C", "STATUS"});
        for (Checkpoint.Entry e : entries) {
            rows.add(new String[] {Printable.escape(e.name()), e.dtype(), e.shape().toString(), e.storedChecksum(),
                e.checksumOk() ? "ok" : "MISMATCH (computed " + e.computedChecksum() + ")"});
        }
        int[] width = new int[5];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder b = new StringBuilder("  ");
            for (int i = 0; i < r.length; i++) {
                b.append(i == r.length - 1 ? r[i] : String.format("%-" + width[i] + "s  ", r[i]));
            }
            line(out, b.toString());
        }
    }
}
