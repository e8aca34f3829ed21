package io.fusedopt;

import io.fusedopt.core.FusedOptException;
import io.fusedopt.checkpoint.Printable;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A checkpoint could not be written, read, or applied: the file is missing, truncated, corrupt, of an unknown
 * format version, or was saved by an optimizer whose configuration differs from the one loading it. The message
 * is one line, {@code <file>: <problem>}; {@link #file()} and {@link #problem()} give the two parts. Both may quote
 * a file's contents, so every non-printable character in them is escaped ({@link Printable#escape}): printing the
 * message cannot move the cursor, ring the bell or break the line.
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
        super(Printable.escape(file.toString()) + ": " + Printable.escape(Objects.requireNonNull(problem, "problem")),
                cause);
        this.file = file.toString();
        this.problem = Printable.escape(problem);
    }

    /** The file the problem is about, as given. */
    public String file() {
        return file;
    }

    /** The problem alone, without the file name; one line. */
    public String problem() {
        return problem;
    }
}
