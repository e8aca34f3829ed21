package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.Checkpoint;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files made to hurt the reader: numbers out of range, names that drive a terminal, special files, and headers or
 * tensors whose claimed size costs memory or time. Each gets one {@link CheckpointException} naming the file,
 * soon, and the loading optimizer stays unchanged.
 */
class UntrustedFileTest {
    private static final Config BASE = Fixtures.adamWithGroup();
    private static Device cpu;

    @TempDir
    Path dir;
    private Path good;
    private StFile parts;

    @BeforeAll
    static void open() {
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    @BeforeEach
    void save() {
        good = dir.resolve("good.safetensors");
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, BASE.n());
            o.saveState(good);
        }
        parts = StFile.read(good);
    }

    private CheckpointException refusedUnchanged(Path file, String... needles) {
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 2);
            Snapshot before = Snapshot.of(o);
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.loadState(file));
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
            for (String n : needles) {
                assertTrue(e.getMessage().contains(n), "must mention '" + n + "': " + e.getMessage());
            }
            before.assertSame(Snapshot.of(o));
            return e;
        }
    }

    @Test
    void aHyperparameterBeyondTheDoubleRangeIsACheckpointProblem() throws Exception {
        ObjectNode h = parts.header().deepCopy();
        ObjectNode meta = (ObjectNode) h.get("__metadata__");
        String desc = meta.get("fusedopt.optimizer").asText();
        assertTrue(desc.contains("\"lr\":0.01"), desc);
        meta.put("fusedopt.optimizer", desc.replaceAll("\"lr\":0\\.01", "\"lr\":1e400"));
        Path p = dir.resolve("huge-lr.safetensors");
        StFile.write(p, StFile.resealed(h), parts.data());
        refusedUnchanged(p, "fusedopt.optimizer.", "hyperparams.lr", "beyond the range of a double");
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.inspect(p));
        assertTrue(e.getMessage().contains("beyond the range of a double"), e.getMessage());
    }

    @Test
    void controlCharactersInNamesAreEscapedInMessages() {
        String hostile = "t\u001b[2J\u0007\u0000\nx\u202e";
        Config named = new Config("hostile", BASE.shapes(), BASE.initial(),
                s -> Optimizers.adam().lr(1e-2).group(hostile, g -> g.weightDecay(0), "t1").build(s),
                BASE.grads(), 2);
        Path p = dir.resolve("hostile.safetensors");
        try (ParameterStore s = Fixtures.store(named, cpu); Optimizer o = named.factory().apply(s)) {
            Fixtures.run(named, s, o, 1, 2);
            o.saveState(p);
        }
        CheckpointException e = refusedUnchanged(p, "does not match", "\\u001b[2J\\u0007\\u0000\\u000ax\\u202e");
        for (String text : new String[] {e.getMessage(), e.problem()}) {
            assertTrue(text.codePoints().noneMatch(c -> c < 0x20 || c == 0x7f || c == 0x202e), text);
        }
    }

    @Test
    void aPipeIsRefusedWithoutWaitingForAWriter() throws Exception {
        Path fifo = dir.resolve("pipe.safetensors");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo failed");
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                refusedUnchanged(fifo, "not a regular file");
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.inspect(fifo));
                assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
            });
        } finally {
            // Frees a reader that a broken check left blocked in open().
            Thread t = new Thread(() -> {
                try (OutputStream out = Files.newOutputStream(fifo)) {
                    out.write(0);
                } catch (Exception ignored) {
                    // nobody was waiting
                }
            });
            t.setDaemon(true);
            t.start();
            t.join(500);
        }
    }

    @Test
    void aLinkToADeviceIsRefused() throws Exception {
        Path link = dir.resolve("zero.safetensors");
        Files.createSymbolicLink(link, Path.of("/dev/zero"));
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> refusedUnchanged(link, "not a regular file"));
    }

    @Test
    void aHugeDeclaredHeaderIsRefusedWithinASmallHeap() throws Exception {
        Path p = dir.resolve("big-header.safetensors");
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(99_000_000L).flip(), 0);
            ch.write(ByteBuffer.wrap(new byte[] {'{'}), 8);
            ch.write(ByteBuffer.wrap(new byte[] {'}'}), 8 + 99_000_000L - 1); // sparse in between
        }
        ChildJvm r = ChildJvm.run(InspectMain.class, List.of("-Xmx96m"), List.of(p.toString()), 60);
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("refused: " + p + ": header length 99000000 is over the"), r.output());
        assertFalse(r.output().contains("out of memory"), r.output());
    }

    @Test
    void aHeaderClaimingAHugeTensorDoesNotCostAReadOfIt() throws Exception {
        // A header edited consistently (entries and tensor list) to make tensor t0 claim 2^34 elements (64 GiB per
        // slot), and a sparse file to match: the edit is caught by the header checksum before a data byte is read.
        ObjectNode h = parts.header().deepCopy();
        long huge = 1L << 34;
        ObjectNode meta = (ObjectNode) h.get("__metadata__");
        ArrayNode tensors = (ArrayNode) StFile.JSON.readTree(meta.get("fusedopt.tensors").asText());
        ((ObjectNode) tensors.get(0)).putArray("shape").add(huge);
        meta.put("fusedopt.tensors", StFile.JSON.writeValueAsString(tensors));
        List<java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> entries = new java.util.ArrayList<>();
        h.properties().forEach(e -> {
            if (!e.getKey().equals("__metadata__")) {
                entries.add(e);
            }
        });
        entries.sort(java.util.Comparator.comparingLong(e -> e.getValue().get("data_offsets").get(0).asLong()));
        long at = 0;
        for (var e : entries) {
            ObjectNode entry = (ObjectNode) e.getValue();
            long bytes = entry.get("data_offsets").get(1).asLong() - entry.get("data_offsets").get(0).asLong();
            if (e.getKey().startsWith("t0.")) {
                entry.putArray("shape").add(huge);
                bytes = huge * Float.BYTES;
            }
            entry.putArray("data_offsets").add(at).add(at + bytes);
            at += bytes;
        }
        Path p = dir.resolve("sparse.safetensors");
        StFile.write(p, h, new byte[0]);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0}), Files.size(p) + at - 1);
        }
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.inspect(p));
            assertTrue(e.getMessage().contains("header checksum mismatch"), e.getMessage());
        });
    }

    @Test
    void aHeaderOverTheLimitIsNotWritten() throws Exception {
        ParameterStore.Builder b = ParameterStore.builder();
        String pad = "x".repeat(1000);
        for (int i = 0; i < 6000; i++) {
            b.add(String.format("t%05d%s", i, pad), 1);
        }
        Path p = dir.resolve("many.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        try (ParameterStore s = b.build(cpu); Optimizer o = Optimizers.adam().build(s)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.saveState(p));
            assertTrue(e.getMessage().contains("over the " + Safetensors.MAX_HEADER_BYTES + "-byte limit"),
                    e.getMessage());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.filter(f -> f.getFileName().toString().startsWith(".many")
                    || f.equals(p)).toList(), "nothing written beside it");
        }
        assertEquals(3, Files.size(p), "the earlier file is intact");
    }
}
