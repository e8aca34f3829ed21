package io.fusedopt.cli;

import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenFormatException;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Finds and parses golden case files: those of a directory, or those bundled in the jar. */
final class CaseFiles {
    private CaseFiles() {
    }

    /**
     * Parses every {@code *.json} in {@code dir} (or the bundled cases when null), sorted by name. A
     * {@code *.json} that is not a regular file (a pipe, a device, a link to one) or is over
     * {@link GoldenCase#MAX_FILE_BYTES} is refused before it is read.
     *
     * @throws GoldenFormatException for the first file that cannot be read or is invalid, or an empty directory
     */
    static List<GoldenCase> load(Path dir) throws GoldenFormatException {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new GoldenFormatException(dir.toString(), "", "is not a directory");
            }
            return parseAll(dir, dir.toString());
        }
        URL url = CaseFiles.class.getResource("/io/fusedopt/golden/FORMAT.md");
        if (url == null) {
            throw new GoldenFormatException("bundled cases", "", "missing from this build");
        }
        try {
            if ("jar".equals(url.getProtocol())) {
                FileSystem fs;
                try {
                    fs = FileSystems.getFileSystem(url.toURI());
                } catch (FileSystemNotFoundException e) {
                    fs = FileSystems.newFileSystem(url.toURI(), Map.of());
                }
                return parseAll(fs.getPath("/io/fusedopt/golden"), "bundled");
            }
            return parseAll(Path.of(url.toURI()).getParent(), "bundled");
        } catch (IOException | URISyntaxException e) {
            throw new GoldenFormatException("bundled cases", "", "cannot be listed: " + e.getMessage());
        }
    }

    private static List<GoldenCase> parseAll(Path dir, String label) throws GoldenFormatException {
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new GoldenFormatException(label, "", "cannot list: " + e.getMessage());
        }
        if (files.isEmpty()) {
            throw new GoldenFormatException(label, "", "holds no case files (*.json)");
        }
        List<GoldenCase> cases = new ArrayList<>();
        for (Path p : files) {
            String name = "bundled".equals(label) ? p.getFileName().toString() : p.toString();
            cases.add(GoldenCase.parse(name, GoldenCase.readBytes(p, name)));
        }
        return cases;
    }
}
