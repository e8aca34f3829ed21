package io.fusedopt.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs {@link Main#run} with standard output and error captured. */
record CliRun(int exit, String out, String err) {
    private static final Object LOCK = new Object();

    static CliRun of(String... args) {
        synchronized (LOCK) {
            PrintStream oldOut = System.out, oldErr = System.err;
            ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                    PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
                System.setOut(o);
                System.setErr(e);
                int exit = Main.run(args);
                return new CliRun(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
            } finally {
                System.setOut(oldOut);
                System.setErr(oldErr);
            }
        }
    }

    /**
     * Asserts exit 2 and exactly one line {@code error: ...} on standard error that contains every needle, and no
     * stack trace anywhere.
     */
    CliRun assertOneLineError(String... needles) {
        String all = out + err;
        assertEquals(2, exit, () -> "exit status; stdout:\n" + out + "\nstderr:\n" + err);
        assertFalse(all.contains("\tat ") || all.contains("Exception in thread"), () -> "stack trace:\n" + all);
        String line = err.strip();
        assertFalse(line.contains("\n"), () -> "more than one line on stderr:\n" + err);
        assertTrue(line.startsWith("error: "), () -> "stderr must start with 'error: ': " + err);
        for (String n : needles) {
            assertTrue(line.contains(n), () -> "stderr must mention '" + n + "': " + err);
        }
        return this;
    }
}
