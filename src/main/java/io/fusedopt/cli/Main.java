package io.fusedopt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The command line: {@code java -jar fusedopt.jar <command>}; exit codes are each command's. */
@Command(name = "fusedopt", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Fused optimizer steps for the JVM: CUDA kernels through JCuda, and a bit-identical CPU backend.",
        subcommands = {InfoCommand.class, VerifyCommand.class, BenchCommand.class, DemoCommand.class, InspectCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit status (2 for usage errors). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            line.getErr().println("error: " + ex.getMessage());
            return 2;
        });
        return cl.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
