package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fusedopt.checkpoint.ChildJvm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * JCuda's native libraries come from a private directory: a library planted under JCuda's fixed name in a shared
 * {@code java.io.tmpdir} never runs, and the verified one still loads (on the CUDA stand-in run, CUDA is chosen).
 */
@Tag("device")
class NativeLoadingTest {
    private static final String MARKER_SOURCE = String.join("\n",
            "#include <stdio.h>",
            "#include <stdlib.h>",
            "__attribute__((constructor)) static void planted(void) {",
            "    const char *p = getenv(\"FUSEDOPT_PLANTED_MARKER\");",
            "    if (!p) return;",
            "    FILE *f = fopen(p, \"w\");",
            "    if (f) { fputs(\"a planted library ran\\n\", f); fclose(f); }",
            "}",
            "");

    @TempDir
    Path dir;

    private static String compiler() {
        for (String cc : new String[] {"cc", "gcc", "g++"}) {
            try {
                Process p = new ProcessBuilder(cc, "--version").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return cc;
                }
            } catch (IOException | InterruptedException e) {
                // try the next one
            }
        }
        return null;
    }

    private void plant(Path src, Path as) throws Exception {
        String cc = compiler();
        assumeTrue(cc != null, "no C compiler to build the planted library");
        List<String> cmd = new ArrayList<>(List.of(cc, "-shared", "-fPIC", "-o", as.toString()));
        if (cc.equals("g++")) {
            cmd.addAll(List.of("-x", "c"));
        }
        cmd.add(src.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
    }

    @Test
    void aLibraryPlantedInTheSharedTmpdirNeverRuns() throws Exception {
        Path shared = Files.createDirectory(dir.resolve("shared-tmp"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path src = dir.resolve("planted.c");
        Files.writeString(src, MARKER_SOURCE);
        Path planted = shared.resolve(JCudaNatives.fileName("JCudaDriver"));
        plant(src, planted);
        Path plantedBlas = shared.resolve(JCudaNatives.fileName("JCublas2"));
        plant(src, plantedBlas);
        assertTrue(planted.getFileName().toString().matches("libJCudaDriver-[0-9.]+-linux-x86_64\\.so"),
                planted.toString());
        Path marker = dir.resolve("marker");

        ProcessBuilder pb = new ProcessBuilder(ChildJvm.java(), "-cp", System.getProperty("java.class.path"),
                "-Djava.io.tmpdir=" + shared, AutoDeviceMain.class.getName()).redirectErrorStream(true);
        pb.environment().put("FUSEDOPT_PLANTED_MARKER", marker.toString());
        ChildJvm r = ChildJvm.run(pb.start(), 120);
        assertEquals(0, r.exit(), r.output());
        assertFalse(Files.exists(marker), "the planted library ran: " + r.output());
        boolean standIn = "cuda".equals(System.getProperty("fusedopt.device"));
        if (standIn) {
            assertTrue(r.output().contains("backend: cuda"), "the verified library must still load:\n" + r.output());
            assertTrue(r.output().contains("cublas: ok"), "the verified JCublas must still load:\n" + r.output());
        }
        try (Stream<Path> left = Files.list(shared)) {
            assertEquals(List.of(plantedBlas, planted), left.sorted().toList(),
                    "the private directories are gone after loading");
        }
    }

    @Test
    void thePrivateDirectoryIsTheUsersAlone() throws Exception {
        Path d = JCudaNatives.privateDirectory();
        try {
            PosixFileAttributes a = Files.readAttributes(d, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            assertEquals("rwx------", PosixFilePermissions.toString(a.permissions()));
            assertEquals(System.getProperty("user.name"), a.owner().getName());
            assertTrue(d.getParent().equals(Path.of(System.getProperty("java.io.tmpdir"))), d.toString());
            Path again = JCudaNatives.privateDirectory();
            assertFalse(again.equals(d), "a fresh directory every time");
            Files.delete(again);
        } finally {
            Files.deleteIfExists(d);
        }
    }
}
