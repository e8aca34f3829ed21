package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.fusedopt.cli.Main;
import io.fusedopt.core.CudaUnavailableException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Without a CUDA driver library, {@code auto} selects the CPU with a one-line reason, {@code cuda} fails with that
 * reason, and {@code info} says so. (On a machine with a driver, or under the stand-in, these do not apply.)
 */
class DeviceSelectionTest {
    @BeforeEach
    void noDriverHere() {
        String path = String.valueOf(System.getenv("LD_LIBRARY_PATH"));
        boolean driver = path.contains("cuda-emu")
                || Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1"))
                || Files.exists(Path.of("/usr/lib64/libcuda.so.1"))
                || Files.exists(Path.of("/usr/local/nvidia/lib64/libcuda.so.1"));
        assumeFalse(driver, "a CUDA driver library is present here");
    }

    @Test
    void autoFallsBackToTheCpuWithOneLineReason() {
        try (Device d = Device.auto()) {
            assertEquals("cpu", d.name());
            String reason = d.fallbackReason().orElseThrow();
            assertEquals("CUDA not usable, using the CPU backend: no CUDA driver library (libcuda.so.1 not found)",
                    reason);
            assertTrue(reason.lines().count() == 1);
        }
    }

    @Test
    void theReasonStaysTheSameOnEveryAttempt() {
        for (int i = 0; i < 3; i++) {
            CudaUnavailableException e = assertThrows(CudaUnavailableException.class, Device::cuda);
            assertEquals("no CUDA driver library (libcuda.so.1 not found)", e.getMessage());
        }
    }

    @Test
    void askingForCudaIsAClearError() {
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, Device::cuda);
        assertEquals("no CUDA driver library (libcuda.so.1 not found)", e.getMessage());
    }

    @Test
    void infoSaysWhyCudaIsNotUsable() {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            code = Main.run("info");
        } finally {
            System.setOut(old);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, code);
        assertTrue(text.contains("cpu:  available"), text);
        assertTrue(text.contains("cuda: not usable — no CUDA driver library (libcuda.so.1 not found)"), text);
    }
}
