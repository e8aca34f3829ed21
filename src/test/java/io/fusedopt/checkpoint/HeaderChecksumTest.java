package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The header is covered by a checksum too: no single flipped bit anywhere in the length field or the header loads,
 * and the one the fuzzing found (the step count '8' read as '9') is named as a header checksum mismatch.
 */
class HeaderChecksumTest {
    private static final Config BASE = Fixtures.adamWithGroup();
    private static Device cpu;

    @TempDir
    Path dir;
    private Path good;
    private byte[] bytes;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    @BeforeEach
    void save() throws Exception {
        good = dir.resolve("good.safetensors");
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 8);
            o.saveState(good);
        }
        bytes = Files.readAllBytes(good);
    }

    private int headerEnd() {
        return 8 + (int) ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Test
    void aFlippedStepDigitIsRefused() throws Exception {
        String header = new String(bytes, 8, headerEnd() - 8, StandardCharsets.UTF_8);
        String key = "\"fusedopt.step\":\"8\"";
        int at = header.indexOf(key);
        assertTrue(at > 0, header);
        byte[] flipped = bytes.clone();
        flipped[8 + at + key.length() - 2] ^= 0x01; // '8' -> '9'
        Path bad = dir.resolve("step9.safetensors");
        Files.write(bad, flipped);
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 2);
            Snapshot before = Snapshot.of(o);
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.loadState(bad));
            assertTrue(e.getMessage().startsWith(bad + ": header checksum mismatch"), e.getMessage());
            before.assertSame(Snapshot.of(o));
        }
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.inspect(bad));
        assertTrue(e.getMessage().contains("header checksum mismatch"), e.getMessage());
    }

    @Test
    void noSingleBitFlipInTheHeaderLoads() throws Exception {
        int end = headerEnd();
        Path bad = dir.resolve("flipped.safetensors");
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 2);
            Snapshot before = Snapshot.of(o);
            for (int i = 0; i < end; i++) {
                for (int bit : new int[] {0x01, 0x10}) {
                    byte[] flipped = bytes.clone();
                    flipped[i] ^= (byte) bit;
                    Files.write(bad, flipped);
                    int pos = i;
                    assertThrows(CheckpointException.class, () -> o.loadState(bad),
                            () -> "byte " + pos + " ^ " + bit + " of the header loaded");
                }
            }
            before.assertSame(Snapshot.of(o));
            assertEquals(2, o.stepCount());
        }
    }

    @Test
    void theIntactFileStillLoadsAndInspects() {
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            o.loadState(good);
            assertEquals(8, o.stepCount());
        }
        Checkpoint.Info info = Checkpoint.inspect(good);
        assertEquals(Checkpoint.FORMAT_VERSION, info.formatVersion());
        assertTrue(info.headerChecksum().matches("[0-9a-f]{8}"), info.headerChecksum());
    }
}
