package io.fusedopt.checkpoint;

import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import java.nio.file.Path;

/**
 * {@code StreamedLoadMain CONFIG FILE}: runs two steps of the {@link Fixtures#everyRule()} configuration CONFIG,
 * loads FILE streamed from the file (no data held in memory), and prints {@code loaded} or
 * {@code refused: <message>}, then {@code unchanged} when a refused load left every bit as it was.
 */
public final class StreamedLoadMain {
    private StreamedLoadMain() {
    }

    /** Runs it. */
    public static void main(String[] args) {
        Fixtures.Config c = Fixtures.everyRule().stream().filter(x -> x.name().equals(args[0])).findFirst()
                .orElseThrow();
        try (Device d = Device.cpu(); ParameterStore s = Fixtures.store(c, d); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, 2);
            Snapshot before = Snapshot.of(o);
            try {
                Streaming.load(o, Path.of(args[1]), 7, 0, (step, skipped, ts) -> { });
                System.out.println("loaded");
            } catch (CheckpointException e) {
                System.out.println("refused: " + e.getMessage());
                try {
                    before.assertSame(Snapshot.of(o));
                    System.out.println("unchanged");
                } catch (AssertionError changed) {
                    System.out.println("changed: " + changed.getMessage());
                }
            }
        }
    }
}
