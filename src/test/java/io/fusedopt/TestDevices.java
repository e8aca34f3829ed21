package io.fusedopt;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The device and golden directory a test run uses. */
public final class TestDevices {
    private TestDevices() {
    }

    /**
     * The device under test: {@code -Dfusedopt.device} ({@code cpu} by default; the CUDA stand-in run sets
     * {@code cuda}).
     */
    public static Device device() {
        return Device.of(System.getProperty("fusedopt.device", "cpu"));
    }

    /** The golden case files: {@code -Dfusedopt.golden.dir} or the bundled test resources. */
    public static List<Path> goldenFiles() throws IOException, URISyntaxException {
        String dir = System.getProperty("fusedopt.golden.dir");
        Path root;
        if (dir != null && !dir.isEmpty()) {
            root = Path.of(dir);
        } else {
            URL url = TestDevices.class.getResource("/golden/FORMAT.md");
            if (url == null) {
                throw new IllegalStateException("golden cases missing from the test resources");
            }
            root = Path.of(url.toURI()).getParent();
        }
        try (Stream<Path> s = Files.list(root)) {
            List<Path> files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
            if (files.isEmpty()) {
                throw new IllegalStateException("no golden case (*.json) in " + root);
            }
            return files;
        }
    }
}
