package io.fusedopt.jmh;

import io.fusedopt.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The entry point of {@code benchmarks.jar}: runs {@code org.openjdk.jmh.Main} with the caller's arguments, adding
 * {@code -p backend=cpu} or {@code -p backend=cpu,cuda} (whichever backends are usable here) unless the caller
 * set {@code backend}, and excluding the CUDA-only benchmarks when CUDA is not usable or is the CPU stand-in.
 */
public final class BenchmarksMain {
    private BenchmarksMain() {
    }

    /**
     * Runs JMH.
     *
     * @param args JMH's command line ({@code -h} lists it)
     * @throws Exception whatever {@code org.openjdk.jmh.Main} throws
     */
    public static void main(String[] args) throws Exception {
        List<String> a = new ArrayList<>(List.of(args));
        if (!informational(args)) {
            String reason = cudaUnusable();
            if (reason != null) {
                System.err.println("fusedopt benchmarks: CUDA " + reason + "; running the CPU backend only and"
                        + " skipping " + CudaOnly.PATTERN);
                a.add("-e");
                a.add(CudaOnly.PATTERN);
            }
            if (!setsBackend(args)) {
                a.add("-p");
                a.add(reason == null ? "backend=cpu,cuda" : "backend=cpu");
            }
        }
        org.openjdk.jmh.Main.main(a.toArray(new String[0]));
    }

    /** Null when a real CUDA device opens, else why not (no driver, no device, or only the CPU stand-in). */
    static String cudaUnusable() {
        try (Device d = Device.cuda()) {
            if (d.description().toLowerCase(Locale.ROOT).contains("stand-in")) {
                return "is the CPU stand-in (" + d.description() + "), whose timings are meaningless;"
                        + " pass -p backend=cuda to run on it anyway";
            }
            return null;
        } catch (Throwable t) {
            // A missing native library surfaces as an Error; none of them should stop the CPU benchmarks.
            return "is not usable (" + t.getMessage() + ")";
        }
    }

    private static boolean setsBackend(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String s = args[i];
            if (s.startsWith("-pbackend=") || ("-p".equals(s) && i + 1 < args.length
                    && args[i + 1].startsWith("backend="))) {
                return true;
            }
        }
        return false;
    }

    /** Whether JMH is only asked to list or explain, where extra options would be noise. */
    private static boolean informational(String[] args) {
        for (String s : args) {
            if (List.of("-h", "-l", "-lp", "-lprof", "-lrf", "-lrff").contains(s)) {
                return true;
            }
        }
        return false;
    }

    /** The benchmarks that need a real CUDA device. */
    static final class CudaOnly {
        /** JMH exclusion regular expression for them. */
        static final String PATTERN = "CublasAdamBenchmark";

        private CudaOnly() {
        }
    }
}
