package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file changed in place while a streamed load is being applied (after the first pass verified it): the second
 * pass notices, and the state it had already written is put back, so the optimizer is unchanged after all.
 */
@Tag("device")
class ChangedDuringLoadTest {
    private static final Config SWATS = Fixtures.everyRule().stream()
            .filter(c -> c.name().equals("swats_switch_zero_grad.json")).findFirst().orElseThrow();

    @TempDir
    Path dir;

    @Test
    void theWrittenStateIsPutBack() throws IOException {
        Path file = dir.resolve("c.safetensors");
        try (Device d = TestDevices.device()) {
            try (ParameterStore s = Fixtures.store(SWATS, d); Optimizer o = SWATS.factory().apply(s)) {
                Fixtures.run(SWATS, s, o, 1, 10);
                o.saveState(file);
            }
            // The last 4 bytes of the last slot entry, which the second pass reaches after the first slice.
            StFile parts = StFile.read(file);
            long last = 0;
            for (var e : parts.header().properties()) {
                if (e.getValue().has("dtype") && e.getValue().get("dtype").asText().equals("F32")) {
                    last = Math.max(last, e.getValue().get("data_offsets").get(1).asLong());
                }
            }
            long at = 8 + parts.headerLength() + last - 4;
            try (ParameterStore s = Fixtures.store(SWATS, d); Optimizer o = SWATS.factory().apply(s)) {
                Fixtures.run(SWATS, s, o, 1, 3);
                Snapshot before = Snapshot.of(o);
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> Streaming.load(o, file, 3, 0, (step, skipped, ts) -> { }, () -> corrupt(file, at)));
                assertTrue(e.getMessage().contains("changed while it was being loaded"), e.getMessage());
                assertTrue(e.getMessage().endsWith("the optimizer is unchanged"), e.getMessage());
                before.assertSame(Snapshot.of(o));
            }
        }
    }

    @Test
    void withoutRoomForTheUndoCopyTheLoadIsRefusedBeforeAnythingChanges() throws Exception {
        Path file = dir.resolve("a.safetensors");
        ChildJvm saved = ChildJvm.run(SaveMain.class, java.util.List.of(), java.util.List.of("adam", file.toString()),
                120);
        assertTrue(saved.output().contains("saved"), saved.output());
        ChildJvm r = ChildJvm.run(StreamedLoadMain.class,
                java.util.List.of("-Djava.io.tmpdir=" + dir.resolve("no-such-dir")),
                java.util.List.of("adam", file.toString()), 120);
        assertTrue(r.output().contains("refused: " + file + ": cannot keep the state it replaces in java.io.tmpdir"),
                r.output());
        assertTrue(r.output().contains("the optimizer is unchanged") && r.output().contains("\nunchanged"),
                r.output());
    }

    // Flips the bits of 4 bytes of the file in place.
    private static void corrupt(Path file, long at) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            ch.read(b, at);
            for (int i = 0; i < 4; i++) {
                b.put(i, (byte) ~b.get(i));
            }
            ch.write(b.flip(), at);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
