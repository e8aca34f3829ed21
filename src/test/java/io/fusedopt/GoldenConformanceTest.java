package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenRunner;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * Replays every golden case on the device under test and checks every element of every tensor after every step,
 * and every step's learning rate, against the case's tolerance.
 */
@Tag("device")
class GoldenConformanceTest {
    private static Device device;

    @BeforeAll
    static void open() {
        device = TestDevices.device();
    }

    @AfterAll
    static void close() {
        device.close();
    }

    @TestFactory
    Stream<DynamicTest> everyCasePasses() throws Exception {
        return TestDevices.goldenFiles().stream().map(p -> DynamicTest.dynamicTest(name(p), () -> {
            GoldenCase c = GoldenCase.read(p);
            GoldenRunner.Result r = GoldenRunner.run(c, device);
            assertTrue(r.passed(), () -> c.name() + " on " + device.name() + ": worst error " + r.worst()
                    + " x tolerance at " + r.where());
        }));
    }

    private static String name(Path p) {
        String f = p.getFileName().toString();
        return f.substring(0, f.length() - ".json".length());
    }
}
