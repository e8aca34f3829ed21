package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Checkpoint;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.checkpoint.Fixtures.Config;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A save killed with {@code kill -9} leaves its temporary file; the next save to the same path removes it, and
 * removes nothing it cannot prove is such a leftover.
 */
class StaleTemporaryFileTest {
    private static final Config ADAM = Fixtures.everyRule().stream().filter(c -> c.name().equals("adam"))
            .findFirst().orElseThrow();

    @TempDir
    Path dir;

    private static List<Path> list(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private void saveHere(Path file) {
        try (Device cpu = Device.cpu(); ParameterStore s = Fixtures.store(ADAM, cpu); Optimizer o = ADAM.factory().apply(s)) {
            Fixtures.run(ADAM, s, o, 1, 3);
            o.saveState(file);
        }
    }

    @Test
    void theNextSaveRemovesTheFileOfAKilledSave() throws Exception {
        Path file = dir.resolve("opt.safetensors");
        saveHere(file);
        for (int kill = 0; kill < 3; kill++) {
            Process p = ChildJvm.start(SaveMain.class, List.of(), List.of("adam", file.toString(), "hang"));
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null && !line.equals("writing")) {
                // wait until the temporary file is complete and the child waits before its rename
            }
            assertEquals("writing", line, "the child did not reach the rename");
            p.destroyForcibly(); // SIGKILL: no finally block runs
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(4, list(dir).size(), "three killed saves left three temporary files: " + list(dir));
        saveHere(file);
        assertEquals(List.of(file), list(dir), "the next save removed them");
        assertEquals(3, Checkpoint.inspect(file).step());
    }

    @Test
    void filesItCannotProveStaleAreKept() throws Exception {
        Path file = dir.resolve("opt.safetensors");
        long me = ProcessHandle.current().pid();
        long myStart = ProcessHandle.current().info().startInstant().orElseThrow().toEpochMilli();
        // A save in progress in this very process, another target's leftover, a look-alike name, a link.
        Path live = Files.createFile(dir.resolve(".opt.safetensors.fusedopt-" + me + "-" + myStart
                + "-0123456789abcdef.tmp"));
        Path other = Files.createFile(dir.resolve(".other.safetensors.fusedopt-1-1-0123456789abcdef.tmp"));
        Path lookAlike = Files.createFile(dir.resolve(".opt.safetensors.fusedopt-1-1-0123.tmp"));
        Path target = Files.createFile(dir.resolve("precious"));
        Path link = Files.createSymbolicLink(dir.resolve(".opt.safetensors.fusedopt-1-1-fedcba9876543210.tmp"),
                target);
        // One that is provably stale: its process has exited.
        Process gone = new ProcessBuilder("true").start();
        long start = gone.info().startInstant().map(i -> i.toEpochMilli()).orElse(1L);
        gone.waitFor();
        Path stale = Files.createFile(dir.resolve(".opt.safetensors.fusedopt-" + gone.pid() + "-" + start
                + "-00000000000000ff.tmp"));
        saveHere(file);
        assertTrue(Files.exists(live), "a save of a live process");
        assertTrue(Files.exists(other), "another target's file");
        assertTrue(Files.exists(lookAlike), "a name of another form");
        assertTrue(Files.isSymbolicLink(link) && Files.exists(target), "a link and what it points to");
        assertTrue(Files.notExists(stale), "the file of a process that has exited");
    }
}
