package io.fusedopt;

import io.fusedopt.core.Tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.checkpoint.Fixtures;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import io.fusedopt.golden.GoldenRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The parts of {@link Checkpoint} that large models exercise and small tests would not: streaming in slices (a
 * tensor need not fit in one array), loading without holding the data in memory, and the atomic replace.
 */
class CheckpointStreamingTest {
    private static Device cpu;
    private static final Config SWATS = Fixtures.everyRule().stream()
            .filter(c -> c.name().equals("swats_switch_zero_grad.json")).findFirst().orElseThrow();

    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    private Path saveAfter(Config c, int steps, String name, int slice) {
        Path file = dir.resolve(name);
        try (ParameterStore s = Fixtures.store(c, cpu); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, steps);
            Checkpoint.save(o, file, slice, () -> { });
        }
        return file;
    }

    @Test
    void sliceSizeDoesNotChangeTheFile() throws IOException {
        byte[] whole = Files.readAllBytes(saveAfter(SWATS, 10, "whole.safetensors", Checkpoint.DEFAULT_SLICE_ELEMENTS));
        for (int slice : new int[] {1, 5, 7, 23}) {
            assertArrayEquals(whole, Files.readAllBytes(saveAfter(SWATS, 10, "s" + slice + ".safetensors", slice)),
                    "slice " + slice);
        }
    }

    @Test
    void loadingFromTheFileMatchesLoadingFromMemory() {
        Path file = saveAfter(SWATS, 10, "c.safetensors", 7);
        Snapshot inMemory;
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            Checkpoint.load(o, file, 5, Long.MAX_VALUE);
            inMemory = Snapshot.of(o);
        }
        for (int slice : new int[] {1, 5, 1 << 20}) {
            try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
                Checkpoint.load(o, file, slice, 0);
                inMemory.assertSame(Snapshot.of(o));
                assertEquals(10, o.stepCount());
            }
        }
    }

    @Test
    void streamingLoadVerifiesBeforeWriting() throws IOException {
        Path file = saveAfter(SWATS, 10, "c.safetensors", 7);
        byte[] all = Files.readAllBytes(file);
        all[all.length - 40] ^= 0x10;
        Files.write(file, all);
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            Fixtures.run(SWATS, s, o, 1, 3);
            Snapshot before = Snapshot.of(o);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(o, file, 3, 0));
            assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
            before.assertSame(Snapshot.of(o));
        }
    }

    @Test
    void resumeThroughSlicedStreamingIsBitIdentical() {
        Path file = dir.resolve("r.safetensors");
        try (ParameterStore sa = Fixtures.store(SWATS, cpu); Optimizer a = SWATS.factory().apply(sa);
                ParameterStore sb = Fixtures.store(SWATS, cpu); Optimizer b = SWATS.factory().apply(sb)) {
            Fixtures.run(SWATS, sa, a, 1, 24);
            Fixtures.run(SWATS, sb, b, 1, 12);
            Checkpoint.save(b, file, 3, () -> { });
            try (ParameterStore sc = Fixtures.store(SWATS, cpu); Optimizer c = SWATS.factory().apply(sc)) {
                for (Tensor t : sb.tensors()) {
                    sc.setParameters(t.name(), sb.parameters(t.name()));
                }
                Checkpoint.load(c, file, 2, 0);
                Fixtures.run(SWATS, sc, c, 13, 24);
                assertNull(GoldenRunner.firstDifference(a, c));
            }
        }
    }

    @Test
    void aFailedSaveLeavesThePreviousCheckpointAndNoTemporaryFile() throws IOException {
        Path file = saveAfter(SWATS, 4, "keep.safetensors", 1 << 20);
        byte[] before = Files.readAllBytes(file);
        RuntimeException boom = new IllegalStateException("disk pulled out");
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            Fixtures.run(SWATS, s, o, 1, 9);
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> Checkpoint.save(o, file, 1 << 20, () -> {
                        throw boom;
                    }));
            assertSame(boom, e);
        }
        assertArrayEquals(before, Files.readAllBytes(file), "the earlier checkpoint is intact");
        assertEquals(List.of(file), list(dir), "no temporary file is left behind");
    }

    @Test
    void savingOverAnExistingCheckpointReplacesIt() throws IOException {
        Path file = saveAfter(SWATS, 4, "over.safetensors", 1 << 20);
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            Fixtures.run(SWATS, s, o, 1, 9);
            o.saveState(file);
        }
        assertEquals(9, Checkpoint.inspect(file).step());
        assertEquals(List.of(file), list(dir));
    }

    @Test
    void savingIntoAMissingDirectoryNamesTheFile() {
        Path file = dir.resolve("no/such/dir/x.safetensors");
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.saveState(file));
            assertTrue(e.getMessage().startsWith(file + ": cannot write"), e.getMessage());
        }
    }

    @Test
    void savingOntoADirectoryIsRefused() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.saveState(sub));
            assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
        }
        assertTrue(Files.isDirectory(sub));
    }

    @Test
    void aStepZeroCheckpointRoundTrips() {
        Path file = saveAfter(SWATS, 0, "zero.safetensors", 1 << 20);
        try (ParameterStore s = Fixtures.store(SWATS, cpu); Optimizer o = SWATS.factory().apply(s)) {
            Fixtures.run(SWATS, s, o, 1, 2);
            o.loadState(file);
            assertEquals(0, o.stepCount());
        }
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }
}
