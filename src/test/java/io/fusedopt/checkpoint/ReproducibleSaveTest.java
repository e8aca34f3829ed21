package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The same optimizer state saved in separate JVM runs gives the same bytes. The rules' hyperparameters come in
 * maps of several kinds, some ({@code Map.of}) iterating in an order that each run picks anew, so this needs runs
 * of their own.
 */
class ReproducibleSaveTest {
    private static final int RUNS = 4;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "adagrad", "adam", "swats_l2.json"})
    void everyRunWritesTheSameBytes(String config) throws Exception {
        byte[] first = null;
        for (int run = 0; run < RUNS; run++) {
            Path file = dir.resolve(config + "." + run + ".safetensors");
            ChildJvm r = ChildJvm.run(SaveMain.class, List.of(), List.of(config, file.toString()), 120);
            assertEquals(0, r.exit(), r.output());
            assertTrue(r.output().contains("saved"), r.output());
            byte[] bytes = Files.readAllBytes(file);
            if (first == null) {
                first = bytes;
            } else {
                assertArrayEquals(first, bytes, "run " + run + " of " + config + " wrote other bytes than run 0");
            }
        }
    }
}
