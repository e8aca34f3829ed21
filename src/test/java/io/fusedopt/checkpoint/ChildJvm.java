package io.fusedopt.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a main class of the test class path in a fresh JVM, for what one JVM cannot show. */
public record ChildJvm(int exit, String output) {
    /** The java launcher of this JVM. */
    public static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * Runs {@code main} with {@code jvmArgs} and {@code args}, output and error merged, and fails the calling test
     * when it does not end within {@code seconds}.
     */
    public static ChildJvm run(Class<?> main, List<String> jvmArgs, List<String> args, long seconds)
            throws IOException, InterruptedException {
        return run(start(main, jvmArgs, args), seconds);
    }

    /** Starts {@code main} without waiting for it. */
    public static Process start(Class<?> main, List<String> jvmArgs, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.addAll(jvmArgs);
        cmd.add(main.getName());
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    /** Waits for {@code p}; kills it and throws when it takes longer than {@code seconds}. */
    public static ChildJvm run(Process p, long seconds) throws InterruptedException, IOException {
        byte[][] out = new byte[1][];
        Thread reader = new Thread(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = e.toString().getBytes(StandardCharsets.UTF_8);
            }
        });
        reader.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            reader.join(5000);
            throw new AssertionError("child JVM did not finish within " + seconds + " s; output:\n"
                    + (out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8)));
        }
        reader.join();
        return new ChildJvm(p.exitValue(), new String(out[0], StandardCharsets.UTF_8));
    }
}
