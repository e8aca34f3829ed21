package io.fusedopt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;

/**
 * The command line: {@code java -jar fusedopt.jar <command>}; exit codes are each command's. Every command answers
 * {@code -h}/{@code --help} (and {@code help COMMAND}) with its usage and exit 0; a usage error prints one line,
 * {@code error: <problem> (see 'fusedopt <command> --help')}, on standard error and exits 2.
 */
@Command(name = "fusedopt", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Fused optimizer steps for the JVM: CUDA kernels through JCuda, and a bit-identical CPU backend.",
        subcommands = {InfoCommand.class, VerifyCommand.class, BenchCommand.class, DemoCommand.class, InspectCommand.class,
                CommandLine.HelpCommand.class},
        footer = {"", "Run 'fusedopt COMMAND --help' (or 'fusedopt help COMMAND') for a command's options."})
public final class Main implements Runnable {
    /** The exit status of a usage error: an unknown option, a missing or an invalid value. */
    static final int USAGE = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit status (2 for usage errors). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        for (CommandLine sub : cl.getSubcommands().values()) {
            addHelpOption(sub.getCommandSpec());
        }
        cl.setParameterExceptionHandler((ex, ignored) -> usageError(ex));
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            if (ex instanceof ParameterException) {
                return usageError((ParameterException) ex);
            }
            line.getErr().println("error: " + ex.getMessage());
            return 2;
        });
        return cl.execute(args);
    }

    /**
     * A usage error for {@code command}'s {@code --help} pointer; the commands throw it for an option whose value
     * only they can check.
     */
    static ParameterException usage(CommandSpec command, String problem) {
        return new ParameterException(command.commandLine(), problem);
    }

    /** One line: the problem and where the usage is, instead of picocli's default of printing all of it. */
    private static int usageError(ParameterException ex) {
        CommandLine cmd = ex.getCommandLine();
        String problem = String.valueOf(ex.getMessage()).strip().replaceAll("\\s*\\R\\s*", "; ")
                .replaceAll("\\.$", "");
        cmd.getErr().println("error: " + problem + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
        cmd.getErr().flush();
        return USAGE;
    }

    /** Adds {@code -h, --help} to a command that does not declare it itself. */
    private static void addHelpOption(CommandSpec command) {
        if (command.findOption("--help") == null) {
            command.addOption(OptionSpec.builder("-h", "--help").usageHelp(true)
                    .description("Show this help and exit.").build());
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
