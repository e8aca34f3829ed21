package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.schedule.Schedules;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loading rejects every broken or mismatched checkpoint with a {@link CheckpointException} that names the file
 * and the problem, and leaves the optimizer exactly as it was (every bit of its state, its counts and its rate),
 * still able to step.
 */
class CheckpointRejectTest {
    private static Device cpu;
    private static final Config BASE = Fixtures.adamWithGroup();

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

    /** Loads {@code file} into a {@code target} optimizer that has taken 2 steps and checks the rejection. */
    private CheckpointException rejects(Path file, Config target, String... needles) {
        try (ParameterStore s = Fixtures.store(target, cpu); Optimizer o = target.factory().apply(s)) {
            Fixtures.run(target, s, o, 1, 2);
            Snapshot before = Snapshot.of(o);
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.loadState(file));
            String m = e.getMessage();
            assertTrue(m.startsWith(file.toString() + ": "), "message must start with the file: " + m);
            assertEquals(file.toString(), e.file());
            for (String needle : needles) {
                assertTrue(m.contains(needle), "message must mention '" + needle + "': " + m);
            }
            assertFalse(m.contains("\n"), "one line: " + m);
            before.assertSame(Snapshot.of(o));
            Fixtures.run(target, s, o, 3, 3);
            return e;
        }
    }

    private CheckpointException rejects(Path file, String... needles) {
        return rejects(file, BASE, needles);
    }

    private Path bytes(String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    /** Writes a forged header with its header checksum recomputed, so that the check under test is reached. */
    private Path header(String name, ObjectNode header, byte[] data) {
        Path p = dir.resolve(name);
        StFile.write(p, StFile.resealed(header), data);
        return p;
    }

    private ObjectNode headerCopy() {
        return parts.header().deepCopy();
    }

    private Config variant(Function<ParameterStore, Optimizer> factory) {
        return Fixtures.withFactory(BASE, factory);
    }

    private static Config shapes(List<long[]> shapes, Function<ParameterStore, Optimizer> factory) {
        return new Config("variant", shapes, Fixtures.initial(shapes, 5), factory, Fixtures.randomGrads(5), 2);
    }

    // ---------------------------------------------------------------- the file itself

    @Test
    void missingFile() {
        rejects(dir.resolve("nothing-here.safetensors"), "no such file");
    }

    @Test
    void directory() {
        rejects(dir, "directory");
    }

    @Test
    void emptyFile() throws IOException {
        rejects(bytes("empty.safetensors", new byte[0]), "empty");
    }

    @Test
    void shorterThanTheLengthField() throws IOException {
        rejects(bytes("short.safetensors", new byte[] {1, 0, 0}), "too short");
    }

    @Test
    void truncatedAnywhere() throws IOException {
        byte[] all = Files.readAllBytes(good);
        long headerEnd = 8 + parts.headerLength();
        for (long cut : new long[] {8, 12, headerEnd - 1, headerEnd, headerEnd + 5, all.length - 1}) {
            Path p = bytes("cut" + cut + ".safetensors", Arrays.copyOf(all, (int) cut));
            CheckpointException e = rejects(p);
            String m = e.problem();
            assertTrue(m.contains("truncated") || m.contains("exceeds"), m);
        }
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        byte[] all = Files.readAllBytes(good);
        byte[] h = Arrays.copyOfRange(all, 8, 8 + (int) parts.headerLength());
        byte[] d = Arrays.copyOfRange(all, 8 + h.length, all.length);
        Path p = dir.resolve("long.safetensors");
        StFile.writeRaw(p, all.length, h, d);
        rejects(p, "header length " + all.length, "exceeds");
        StFile.writeRaw(p, -1L, h, d);
        rejects(p, "header length 18446744073709551615", "exceeds");
    }

    @Test
    void headerLengthOverTheSafetensorsLimit() throws IOException {
        Path p = dir.resolve("huge.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            b.putLong(200_000_000L).flip();
            ch.write(b, 0);
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {' '}), 200_000_100L); // sparse: no real 200 MB
        }
        rejects(p, "over the 16777216-byte limit");
    }

    @Test
    void invalidJson() throws IOException {
        byte[] all = Files.readAllBytes(good);
        all[8] = '#';
        rejects(bytes("json.safetensors", all), "header is not valid JSON");
    }

    @Test
    void invalidUtf8() throws IOException {
        byte[] all = Files.readAllBytes(good);
        all[8 + 3] = (byte) 0xff;
        rejects(bytes("utf8.safetensors", all), "UTF-8");
    }

    @Test
    void headerNotAnObject() {
        Path p = dir.resolve("array.safetensors");
        StFile.write(p, "[1, 2, 3]", new byte[0]);
        rejects(p, "must be a JSON object");
    }

    @Test
    void duplicateKeysAreInvalidJson() {
        String text = parts.headerText().trim();
        String dup = text.substring(0, text.length() - 1) + ",\"__metadata__\":{}}";
        Path p = dir.resolve("dup.safetensors");
        StFile.write(p, dup, parts.data());
        rejects(p, "Duplicate field");
    }

    @Test
    void noMetadata() {
        ObjectNode h = headerCopy();
        h.remove("__metadata__");
        rejects(header("nometa.safetensors", h, parts.data()), "__metadata__", "not a fusedopt checkpoint");
    }

    @Test
    void metadataValueNotAString() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.step", 4);
        rejects(header("numstep.safetensors", h, parts.data()), "__metadata__.fusedopt.step must be a string");
    }

    @Test
    void unknownFormatVersion() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.format", "3");
        rejects(header("v3.safetensors", h, parts.data()), "format version \"3\" is not supported");
    }

    @Test
    void noFormatVersion() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("__metadata__")).remove("fusedopt.format");
        rejects(header("nov.safetensors", h, parts.data()), "fusedopt.format", "not a fusedopt checkpoint");
    }

    @Test
    void badStepCount() {
        for (String v : new String[] {"-1", "abc", "1.5", "", "99999999999999999999"}) {
            ObjectNode h = headerCopy();
            ((ObjectNode) h.get("__metadata__")).put("fusedopt.step", v);
            rejects(header("step.safetensors", h, parts.data()), "fusedopt.step");
        }
    }

    @Test
    void optimizerDescriptionNotJson() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.optimizer", "{\"optimizer\": ");
        rejects(header("desc.safetensors", h, parts.data()), "fusedopt.optimizer is not valid JSON");
    }

    @Test
    void optimizerDescriptionWrongType() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.optimizer", "{\"optimizer\": 3, \"groups\": []}");
        rejects(header("desc2.safetensors", h, parts.data()), "fusedopt.optimizer.optimizer must be a string");
    }

    @Test
    void checksumMismatch() throws IOException {
        byte[] all = Files.readAllBytes(good);
        all[all.length - 1] ^= 0x01;
        rejects(bytes("flip.safetensors", all), "checksum mismatch", "t2.exp_avg_sq");
    }

    @Test
    void checksumRecordTampered() throws IOException {
        ObjectNode h = headerCopy();
        ObjectNode sums = (ObjectNode) StFile.JSON.readTree(h.get("__metadata__").get("fusedopt.checksums").asText());
        sums.put("t0.exp_avg", "0badc0de");
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.checksums", StFile.JSON.writeValueAsString(sums));
        rejects(header("sum.safetensors", h, parts.data()), "checksum mismatch", "t0.exp_avg", "0badc0de");
    }

    @Test
    void checksumMissingOrExtra() throws IOException {
        ObjectNode h = headerCopy();
        ObjectNode sums = (ObjectNode) StFile.JSON.readTree(h.get("__metadata__").get("fusedopt.checksums").asText());
        sums.remove("t1.exp_avg");
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.checksums", StFile.JSON.writeValueAsString(sums));
        rejects(header("nosum.safetensors", h, parts.data()), "no checksum for entry 't1.exp_avg'");

        sums.put("t1.exp_avg", "00000000").put("t9.bogus", "00000000");
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.checksums", StFile.JSON.writeValueAsString(sums));
        rejects(header("moresum.safetensors", h, parts.data()), "'t9.bogus'");
    }

    @Test
    void gapOrOverlapBetweenEntries() {
        ObjectNode h = headerCopy();
        ArrayNode off = (ArrayNode) h.get("t0.exp_avg_sq").get("data_offsets");
        long b = off.get(0).asLong(), e = off.get(1).asLong();
        off.removeAll().add(b + 4).add(e + 4);
        rejects(header("gap.safetensors", h, Arrays.copyOf(parts.data(), parts.data().length + 4)), "contiguous");
    }

    @Test
    void offsetsThatDisagreeWithTheShape() {
        ObjectNode h = headerCopy();
        ((ArrayNode) h.get("t1.exp_avg").get("shape")).removeAll().add(16);
        rejects(header("span.safetensors", h, parts.data()), "t1.exp_avg", "span");
    }

    @Test
    void bytesAfterTheLastEntry() {
        rejects(header("tail.safetensors", headerCopy(), Arrays.copyOf(parts.data(), parts.data().length + 8)),
                "bytes after its last entry");
    }

    @Test
    void unknownDtype() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("t0.exp_avg")).put("dtype", "I8");
        rejects(header("i8.safetensors", h, parts.data()), "dtype", "I8");
    }

    @Test
    void wrongFieldTypes() {
        ObjectNode h = headerCopy();
        ((ObjectNode) h.get("t0.exp_avg")).put("shape", "3x5");
        rejects(header("shape.safetensors", h, parts.data()), "t0.exp_avg'.shape");
        h = headerCopy();
        ((ArrayNode) h.get("t0.exp_avg").get("data_offsets")).add(7);
        rejects(header("offs.safetensors", h, parts.data()), "data_offsets must hold 2");
        h = headerCopy();
        ((ArrayNode) h.get("t0.exp_avg").get("data_offsets")).set(0, StFile.JSON.getNodeFactory().numberNode(-4));
        rejects(header("neg.safetensors", h, parts.data()), "data_offsets[0]");
        h = headerCopy();
        h.put("t0.exp_avg", 7);
        rejects(header("notobj.safetensors", h, parts.data()), "entry 't0.exp_avg' must be an object");
    }

    @Test
    void entryMissing() {
        ObjectNode h = headerCopy();
        h.set("t0.exp_avgX", h.remove("t0.exp_avg"));
        rejects(header("missing.safetensors", h, parts.data()), "has no entry 't0.exp_avg'");
    }

    @Test
    void entryExtra() {
        ObjectNode h = headerCopy();
        long end = parts.data().length;
        ObjectNode extra = h.putObject("t0.bogus");
        extra.put("dtype", "F32");
        extra.putArray("shape").add(2);
        extra.putArray("data_offsets").add(end).add(end + 8);
        rejects(header("extra.safetensors", h, Arrays.copyOf(parts.data(), (int) end + 8)), "'t0.bogus'");
    }

    @Test
    void tensorListThatDisagreesWithTheEntries() throws IOException {
        ObjectNode h = headerCopy();
        ArrayNode tensors = (ArrayNode) StFile.JSON.readTree(h.get("__metadata__").get("fusedopt.tensors").asText());
        ((ArrayNode) tensors.get(0).get("shape")).removeAll().add(15);
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.tensors", StFile.JSON.writeValueAsString(tensors));
        rejects(header("tlist.safetensors", h, parts.data()), "entry 't0.exp_avg' is F32 [3, 5]",
                "tensor 't0' has shape [15]");
    }

    // ---------------------------------------------------------------- a checkpoint of another optimizer

    @Test
    void differentRule() {
        rejects(good, variant(s -> Optimizers.adamW().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5))
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                "optimizer is 'adam' in the checkpoint but 'adamw' here");
    }

    @Test
    void differentLearningRate() {
        rejects(good, variant(s -> Optimizers.adam().lr(2e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5))
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                "group 'default' hyperparameter lr is 0.01 in the checkpoint but 0.02 here",
                "group 'no_decay' hyperparameter lr");
    }

    @Test
    void differentGroupHyperparameter() {
        rejects(good, variant(s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5))
                .group("no_decay", g -> g.weightDecay(0).betas(0.8, 0.999), "t1").build(s)),
                "group 'no_decay' hyperparameter betas is [0.9,0.999] in the checkpoint but [0.8,0.999] here");
    }

    @Test
    void differentAmsgrad() {
        rejects(good, variant(s -> Optimizers.adam().amsgrad(true).lr(1e-2).weightDecay(1e-3)
                .schedule(Schedules.stepLr(2, 0.5)).group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                "hyperparameter amsgrad is false in the checkpoint but true here");
    }

    @Test
    void differentGroupNames() {
        rejects(good, variant(s -> Fixtures.adamBuilder().group("nodecay", g -> g.weightDecay(0), "t1").build(s)),
                "parameter groups are [default, no_decay] in the checkpoint but [default, nodecay] here");
    }

    @Test
    void differentGroupMembership() {
        rejects(good, variant(s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5))
                .group("no_decay", g -> g.weightDecay(0), "t2").build(s)),
                "group 'no_decay' holds tensors [t1] in the checkpoint but [t2] here");
    }

    @Test
    void differentSchedule() {
        rejects(good, variant(s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(3, 0.5))
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s)), "schedule is", "\"step_size\":2",
                "\"step_size\":3");
    }

    @Test
    void differentLookahead() {
        rejects(good, variant(s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5))
                .lookahead(3, 0.5).group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                "optimizer is 'adam' in the checkpoint but 'lookahead' here", "Lookahead is none in the checkpoint");
    }

    @Test
    void missingTensor() {
        List<long[]> more = new ArrayList<>(Fixtures.shapes());
        more.add(new long[] {4});
        rejects(good, shapes(more, BASE.factory()), "missing tensor(s) [t3]");
    }

    @Test
    void extraTensor() {
        rejects(good, shapes(Fixtures.shapes().subList(0, 2), BASE.factory()), "extra tensor(s) [t2]");
    }

    @Test
    void differentShape() {
        List<long[]> other = new ArrayList<>(Fixtures.shapes());
        other.set(0, new long[] {15});
        rejects(good, shapes(other, BASE.factory()), "tensor 't0' has shape [3, 5] in the checkpoint but [15]");
    }

    @Test
    void aDifferentNonFinitePolicyIsAccepted() {
        Config skip = variant(s -> Fixtures.adamBuilder().nonFinite(NonFinitePolicy.SKIP)
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s));
        try (ParameterStore s = Fixtures.store(skip, cpu); Optimizer o = skip.factory().apply(s)) {
            o.loadState(good);
            assertEquals(BASE.n(), o.stepCount());
        }
    }

    @Test
    void aClosedOptimizerRefusesToLoad() {
        try (ParameterStore s = Fixtures.store(BASE, cpu)) {
            Optimizer o = BASE.factory().apply(s);
            o.close();
            assertThrows(IllegalStateException.class, () -> o.loadState(good));
            assertThrows(IllegalStateException.class, () -> o.saveState(dir.resolve("x.safetensors")));
        }
    }

    @Test
    void aGoodCheckpointStillLoadsAfterAllThis() {
        try (ParameterStore a = Fixtures.store(BASE, cpu); Optimizer oa = BASE.factory().apply(a);
                ParameterStore b = Fixtures.store(BASE, cpu); Optimizer ob = BASE.factory().apply(b)) {
            Fixtures.run(BASE, a, oa, 1, BASE.n());
            ob.loadState(good);
            for (var t : a.tensors()) {
                b.setParameters(t.name(), a.parameters(t.name()));
            }
            assertNull(GoldenRunner.firstDifference(oa, ob));
        }
    }

    @Test
    void messagesAreOneLineEvenForHostileNames() throws IOException {
        Path p = bytes("bad\nname.safetensors", "garbage".getBytes(StandardCharsets.UTF_8));
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> o.loadState(p));
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
