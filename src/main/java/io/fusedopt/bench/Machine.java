package io.fusedopt.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.stream.Stream;

/** A one-line description of the host for benchmark reports: CPU model, cores, Java version, heap. */
public final class Machine {
    private Machine() {
    }

    /** For example {@code AMD EPYC 9R14, 2 cores, Java 17.0.15+6, max heap 6.0 GiB}. */
    public static String describe() {
        StringBuilder b = new StringBuilder();
        String model = cpuModel();
        if (model != null) {
            b.append(model).append(", ");
        }
        b.append(Runtime.getRuntime().availableProcessors()).append(" cores, Java ").append(Runtime.version());
        b.append(String.format(Locale.ROOT, ", max heap %.1f GiB", Runtime.getRuntime().maxMemory() / (double) (1L << 30)));
        return b.toString();
    }

    /** The first {@code model name} of /proc/cpuinfo, or null where there is none (not Linux, or unreadable). */
    static String cpuModel() {
        Path p = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(p)) {
            return null;
        }
        try (Stream<String> lines = Files.lines(p)) {
            return lines.filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse(null);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
