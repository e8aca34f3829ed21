package io.fusedopt.checkpoint;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import java.nio.file.Path;

/**
 * {@code SaveMain CONFIG FILE [hang]}: runs the {@link Fixtures#everyRule()} configuration named CONFIG on the CPU
 * for its steps and saves it to FILE; with {@code hang}, prints {@code writing} once the temporary file is complete
 * and then waits forever before the rename, for a test to kill it there.
 */
public final class SaveMain {
    private SaveMain() {
    }

    /** Runs it. */
    public static void main(String[] args) throws Exception {
        Fixtures.Config c = Fixtures.everyRule().stream().filter(x -> x.name().equals(args[0])).findFirst()
                .orElseThrow();
        boolean hang = args.length > 2 && args[2].equals("hang");
        try (Device d = Device.cpu(); ParameterStore s = Fixtures.store(c, d); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, c.n());
            Streaming.save(o, Path.of(args[1]), Streaming.DEFAULT_SLICE_ELEMENTS, () -> {
                if (hang) {
                    System.out.println("writing");
                    System.out.flush();
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
        }
        System.out.println("saved");
    }
}
