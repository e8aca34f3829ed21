package io.fusedopt;

import io.fusedopt.core.FusedOptException;
import java.nio.file.Path;

/**
 * A checkpoint could not be written, read, or applied: the file is missing, truncated, corrupt, of an unknown
 * format version, or was saved by an optimizer whose configuration differs from the one loading it. The message
 * is one line, {@code <file>: <problem>}; {@link #file()} and {@link #problem()} give the two parts.
 *
 * <p>When {@link Optimizer#loadState} throws this, the optimizer is unchanged (see {@link Checkpoint}).
 */
public class CheckpointException extends FusedOptException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final String problem;

    /**
     * Creates an exception for {@code file} describing {@code problem}.
     *
     * @throws NullPointerException when {@code file} or {@code problem} is null
     */
    public CheckpointException(Path file, String problem) {
        this(file, problem, null);
    }

    /**
     * Creates an exception for {@code file} describing {@code problem}, caused by {@code cause} (may be null).
     *
     * @throws NullPointerException when {@code file} or {@code problem} is null
     */
    public CheckpointException(Path file, String problem, Throwable cause) {
        super(oneLine(file.toString()) + ": " + oneLine(problem), cause);
        this.file = file.toString();
        this.problem = oneLine(problem);
    }

    /** The file the problem is about, as given. */
    public String file() {
        return file;
    }

    /** The problem alone, without the file name; one line. */
    public String problem() {
        return problem;
    }

    // Callers print the message as a single "error: FILE: problem" line, and parser messages quoting a corrupt
    // file could otherwise carry its line breaks into the terminal.
    private static String oneLine(String s) {
        return s.replaceAll("[\\r\\n\\t]+", " ");
    }
}
