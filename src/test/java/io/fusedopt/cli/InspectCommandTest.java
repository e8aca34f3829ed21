package io.fusedopt.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.StFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code inspect}: the summary of an intact checkpoint, and exit 2 with one line for every broken one. */
class InspectCommandTest {
    @TempDir
    Path dir;
    private Path good;

    @BeforeEach
    void save() {
        good = dir.resolve("good.safetensors");
        Config c = Fixtures.adamWithGroup();
        try (Device cpu = Device.cpu(); ParameterStore s = Fixtures.store(c, cpu); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, c.n());
            o.saveState(good);
        }
    }

    @Test
    void summarisesAnIntactCheckpoint() {
        CliRun r = CliRun.of("inspect", good.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.err());
        String out = r.out();
        for (String s : new String[] {"format:     2", "optimizer:  adam", "step:       4 (skipped 0)",
            "schedule:   {\"gamma\":0.5,\"step_size\":2,\"step_unit\":\"step\",\"type\":\"step_lr\"}",
            "group 'default': amsgrad=false, betas=[0.9,0.999], eps=1.0E-8, lr=0.01, weight_decay=0.001; tensors t0, t2",
            "group 'no_decay': amsgrad=false", "lr=0.01, weight_decay=0.0;", "tensors t1", "slots:      exp_avg, exp_avg_sq",
            "NAME", "DTYPE", "SHAPE", "CRC32C", "STATUS", "6 entries, 0 checksum mismatches"}) {
            assertTrue(out.contains(s), "missing '" + s + "' in:\n" + out);
        }
        for (String e : new String[] {"t0.exp_avg ", "t0.exp_avg_sq", "t1.exp_avg ", "t1.exp_avg_sq", "t2.exp_avg ",
            "t2.exp_avg_sq"}) {
            String line = out.lines().filter(l -> l.trim().startsWith(e.trim() + " ")).findFirst().orElse("");
            assertTrue(line.contains("F32") && line.trim().endsWith("ok"), "row of " + e + ": '" + line + "'\n" + out);
        }
        assertTrue(out.lines().anyMatch(l -> l.contains("t0.exp_avg ") && l.contains("[3, 5]")), out);
    }

    @Test
    void showsPerTensorStateAndLookahead() {
        Path file = dir.resolve("swats.safetensors");
        Config c = Fixtures.withFactory(Fixtures.adamWithGroup(),
                s -> io.fusedopt.Optimizers.swats().lr(0.01).lookahead(2, 0.5).build(s));
        try (Device cpu = Device.cpu(); ParameterStore s = Fixtures.store(c, cpu); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, 3);
            o.saveState(file);
        }
        CliRun r = CliRun.of("inspect", file.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("optimizer:  lookahead (k=2, alpha=0.5) over swats"), r.out());
        assertTrue(r.out().contains("per-tensor state width 4"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.contains("__tensor_state__") && l.contains("F64")
                && l.contains("[3, 4]") && l.trim().endsWith("ok")), r.out());
        assertTrue(r.out().contains("t2.slow"), r.out());
    }

    @Test
    void checksumMismatchPrintsTheTableThenFails() throws IOException {
        byte[] all = Files.readAllBytes(good);
        all[all.length - 3] ^= 0x40;
        Path bad = dir.resolve("flipped.safetensors");
        Files.write(bad, all);
        CliRun r = CliRun.of("inspect", bad.toString()).assertOneLineError(bad.toString(), "checksum mismatch",
                "1 of 6 entries", "t2.exp_avg_sq");
        assertTrue(r.out().lines().anyMatch(l -> l.contains("t2.exp_avg_sq") && l.contains("MISMATCH")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.contains("t0.exp_avg ") && l.trim().endsWith("ok")), r.out());
    }

    private Path write(String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    private void brokenFile(Path p, String... needles) {
        String[] all = Arrays.copyOf(needles, needles.length + 1);
        all[needles.length] = p.toString();
        CliRun r = CliRun.of("inspect", p.toString()).assertOneLineError(all);
        assertEquals("", r.out(), "nothing on stdout for a file that cannot be read");
    }

    @Test
    void truncatedFiles() throws IOException {
        byte[] all = Files.readAllBytes(good);
        brokenFile(write("t4.safetensors", Arrays.copyOf(all, 4)), "too short");
        brokenFile(write("t100.safetensors", Arrays.copyOf(all, 100)), "exceeds");
        brokenFile(write("tlast.safetensors", Arrays.copyOf(all, all.length - 1)), "truncated");
    }

    @Test
    void emptyMissingAndDirectory() throws IOException {
        brokenFile(write("empty.safetensors", new byte[0]), "empty");
        brokenFile(dir.resolve("absent.safetensors"), "no such file");
        brokenFile(Files.createDirectory(dir.resolve("adir")), "directory");
    }

    @Test
    void notASafetensorsFile() throws IOException {
        brokenFile(write("text.safetensors", "hello, world, this is not a checkpoint".getBytes(StandardCharsets.UTF_8)),
                "header length", "exceeds");
        byte[] garbage = new byte[4096];
        new java.util.Random(1).nextBytes(garbage);
        garbage[7] = 0;
        garbage[6] = 0;
        garbage[5] = 0;
        garbage[4] = 0;
        garbage[3] = 0;
        garbage[2] = 0;
        garbage[1] = 8;
        garbage[0] = 0;
        brokenFile(write("garbage.safetensors", garbage), "UTF-8");
    }

    @Test
    void invalidHeaderJson() throws IOException {
        byte[] all = Files.readAllBytes(good);
        all[8] = '[';
        brokenFile(write("json.safetensors", all), "header is not valid JSON");
    }

    @Test
    void unknownFormatVersion() {
        StFile parts = StFile.read(good);
        ObjectNode h = parts.header().deepCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.format", "7");
        Path p = dir.resolve("v7.safetensors");
        StFile.write(p, h, parts.data());
        brokenFile(p, "format version \"7\" is not supported");
    }

    @Test
    void metadataOfTheWrongType() {
        StFile parts = StFile.read(good);
        ObjectNode h = parts.header().deepCopy();
        ((ObjectNode) h.get("__metadata__")).put("fusedopt.tensors", "[{\"name\": \"t0\", \"shape\": [3, \"5\"]}]");
        Path p = dir.resolve("types.safetensors");
        StFile.write(p, StFile.resealed(h), parts.data());
        brokenFile(p, "fusedopt.tensors[0].shape[1] must be a whole number");
    }

    @Test
    void hostileFileNamesStillGiveOneLine() throws IOException {
        Path p = write("two\nlines.safetensors", new byte[3]);
        CliRun r = CliRun.of("inspect", p.toString());
        assertEquals(2, r.exit());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void noFileIsAUsageError() {
        CliRun r = CliRun.of("inspect");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("FILE"), r.err());
    }
}
