package io.fusedopt.checkpoint;

import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import java.nio.file.Path;

/**
 * {@code InspectMain FILE}: inspects FILE and prints {@code intact}, {@code refused: <message>}, or
 * {@code out of memory}, for tests that run it under a small heap.
 */
public final class InspectMain {
    private InspectMain() {
    }

    /** Runs it. */
    public static void main(String[] args) {
        try {
            Checkpoint.inspect(Path.of(args[0]));
            System.out.println("intact");
        } catch (CheckpointException e) {
            System.out.println("refused: " + e.getMessage());
        } catch (OutOfMemoryError e) {
            System.out.println("out of memory");
        }
    }
}
