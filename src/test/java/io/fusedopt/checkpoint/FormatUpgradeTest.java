package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import io.fusedopt.golden.GoldenRunner;
import java.net.URL;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Format-1 checkpoints (the test resources, written before the header checksum existed) still load, on every
 * backend, to exactly the state a fresh run reaches, and continuing from them follows the same trajectory.
 * Saving again writes the current format.
 */
@Tag("device")
class FormatUpgradeTest {
    @TempDir
    Path dir;

    static Stream<String> files() {
        return Stream.of("adam", "adam_skip_nonfinite", "lookahead_adam_k3", "swats_switch_zero_grad");
    }

    private static Config config(String name) {
        return Fixtures.everyRule().stream().filter(c -> c.name().replace(".json", "").equals(name)).findFirst()
                .orElseThrow();
    }

    static Path v1(String name) throws Exception {
        URL url = FormatUpgradeTest.class.getResource("/checkpoint/v1/" + name + ".safetensors");
        if (url == null) {
            throw new IllegalStateException("format-1 checkpoint " + name + " missing from the test resources");
        }
        return Path.of(url.toURI());
    }

    @ParameterizedTest
    @MethodSource("files")
    void loadsToTheStateOfAFreshRunAndContinuesIdentically(String name) throws Exception {
        Config c = config(name);
        Path file = v1(name);
        assertEquals(1, Checkpoint.inspect(file).formatVersion());
        assertNull(Checkpoint.inspect(file).headerChecksum(), "format 1 has no header checksum");
        try (Device device = TestDevices.device();
                ParameterStore sa = Fixtures.store(c, device); Optimizer a = c.factory().apply(sa);
                ParameterStore sb = Fixtures.store(c, device); Optimizer b = c.factory().apply(sb)) {
            Fixtures.run(c, sa, a, 1, c.n());
            Fixtures.run(c, sb, b, 1, 2);
            for (var t : sa.tensors()) {
                sb.setParameters(t.name(), sa.parameters(t.name()));
            }
            b.loadState(file);
            Snapshot.of(a).assertSame(Snapshot.of(b));
            Fixtures.run(c, sa, a, c.n() + 1, c.n() + 4);
            Fixtures.run(c, sb, b, c.n() + 1, c.n() + 4);
            assertNull(GoldenRunner.firstDifference(a, b));

            Path again = dir.resolve(name + ".safetensors");
            b.saveState(again);
            assertEquals(Checkpoint.FORMAT_VERSION, Checkpoint.inspect(again).formatVersion());
            a.loadState(again);
            Snapshot.of(b).assertSame(Snapshot.of(a));
        }
    }

    @Test
    void aFormat1FileThatCarriesAHeaderChecksumIsRefused() throws Exception {
        StFile parts = StFile.read(v1("adam"));
        ObjectNode h = parts.header().deepCopy();
        ((ObjectNode) h.get("__metadata__")).put(Checkpoint.KEY_HEADER_CHECKSUM, "00000000");
        Path p = dir.resolve("mixed.safetensors");
        StFile.write(p, h, parts.data());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.inspect(p));
        assertTrue(e.getMessage().contains("the version field is corrupt"), e.getMessage());
    }
}
