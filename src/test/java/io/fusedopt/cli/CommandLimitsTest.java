package io.fusedopt.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.core.CudaUnavailableException;
import io.fusedopt.golden.GoldenCase;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line against what a careless or hostile user hands it: special and oversized case files, names that
 * would drive the terminal, an output folder that cannot be written, and a backend that is not there.
 */
class CommandLimitsTest {
    @TempDir
    Path dir;

    private Path casesWith(String name) throws Exception {
        Path cases = Files.createDirectories(dir.resolve("cases"));
        try (InputStream in = CommandLimitsTest.class.getResourceAsStream("/golden/adam_basic.json")) {
            Files.write(cases.resolve("a_good.json"), in.readAllBytes());
        }
        return cases.resolve(name);
    }

    @Test
    void aPipeNamedLikeACaseIsRefusedAtOnce() throws Exception {
        Path fifo = casesWith("pipe.json");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo failed");
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> CliRun.of("verify", "--backend", "cpu",
                    "--cases", fifo.getParent().toString()).assertOneLineError("pipe.json", "not a regular file"));
        } finally {
            Thread t = new Thread(() -> {
                try (OutputStream out = Files.newOutputStream(fifo)) {
                    out.write('x');
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
    void aLinkToDevZeroIsRefused() throws Exception {
        Path link = casesWith("zero.json");
        Files.createSymbolicLink(link, Path.of("/dev/zero"));
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> CliRun.of("verify", "--backend", "cpu", "--cases",
                link.getParent().toString()).assertOneLineError("zero.json", "not a regular file"));
    }

    @Test
    void anOversizedCaseFileIsRefusedBeforeItIsRead() throws Exception {
        Path big = casesWith("big.json");
        try (FileChannel ch = FileChannel.open(big, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {'{'}), 0);
            ch.write(ByteBuffer.wrap(new byte[] {'}'}), 120_000_000L); // sparse: 120 MB claimed
        }
        CliRun.of("verify", "--backend", "cpu", "--cases", big.getParent().toString())
                .assertOneLineError("big.json", "over the " + GoldenCase.MAX_FILE_BYTES + "-byte limit");
    }

    @Test
    void caseNamesAreEscapedWhenPrinted() throws Exception {
        Path cases = Files.createDirectories(dir.resolve("cases"));
        String text;
        try (InputStream in = CommandLimitsTest.class.getResourceAsStream("/golden/adam_basic.json")) {
            text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        text = text.replaceFirst("\"name\"\\s*:\\s*\"[^\"]*\"", "\"name\": \"evil\\\\u001b[2J\\\\u0007\"");
        Files.writeString(cases.resolve("evil.json"), text);
        CliRun r = CliRun.of("verify", "--backend", "cpu", "--cases", cases.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("evil\\u001b[2J\\u0007"), r.out());
        assertTrue((r.out() + r.err()).chars().noneMatch(c -> c == 0x1b || c == 0x07), r.out());
    }

    @Test
    void inspectEscapesHostileNames() throws Exception {
        Path file = dir.resolve("hostile.safetensors");
        try (Device cpu = Device.cpu(); ParameterStore s = ParameterStore.builder().add("w\u001b]0;pwned\u0007", 4)
                .add("b\u0000\r\n", 2).build(cpu); Optimizer o = Optimizers.adam().build(s)) {
            o.step();
            o.saveState(file);
        }
        CliRun r = CliRun.of("inspect", file.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("w\\u001b]0;pwned\\u0007.exp_avg"), r.out());
        assertTrue(r.out().contains("b\\u0000\\u000d\\u000a.exp_avg"), r.out());
        String all = r.out() + r.err();
        assertTrue(all.chars().noneMatch(c -> c < 0x20 && c != '\n' || c == 0x7f), all);
    }

    @Test
    void verifyOnAMissingCudaBackendHasItsOwnExitCode() {
        boolean cudaHere;
        try (Device d = Device.cuda()) {
            cudaHere = true;
        } catch (CudaUnavailableException e) {
            cudaHere = false;
        }
        assumeTrue(!cudaHere, "CUDA is usable here (the stand-in run): the code is for a machine without it");
        CliRun r = CliRun.of("verify", "--backend", "cuda");
        assertEquals(VerifyCommand.NO_BACKEND, r.exit(), r.out() + r.err());
        assertEquals(3, r.exit(), "the documented code");
        assertTrue(r.err().startsWith("error: --backend cuda: "), r.err());
        assertFalse((r.out() + r.err()).contains("\tat "), r.err());
    }

    @Test
    void demoChecksItsOutputFolderBeforeTraining() throws Exception {
        Path notADir = Files.writeString(dir.resolve("a-file"), "x");
        CliRun r = CliRun.of("demo", "--epochs", "1", "--optimizers", "sgd", "--schedules", "constant",
                "--backend", "cpu", "--out", notADir.resolve("out").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.err().startsWith("error: cannot write the results to " + notADir.resolve("out")), r.err());
        assertEquals("", r.out(), "nothing was trained");
    }
}
