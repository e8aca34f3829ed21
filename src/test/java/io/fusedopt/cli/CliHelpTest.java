package io.fusedopt.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every command answers {@code --help}, {@code -h} and {@code help COMMAND} with its usage on standard output and
 * exit 0, and a usage error with one line naming the problem and pointing at the command's {@code --help}, exit 2.
 */
class CliHelpTest {
    @ParameterizedTest
    @ValueSource(strings = {"info", "verify", "bench", "demo", "inspect", "help"})
    void longAndShortHelpPrintTheUsageAndExitZero(String command) {
        for (String flag : new String[] {"--help", "-h"}) {
            CliRun r = CliRun.of(command, flag);
            assertEquals(0, r.exit(), () -> command + " " + flag + ": " + r.err());
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("Usage: fusedopt " + command)), r.out());
            assertEquals("", r.err());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "verify", "bench", "demo", "inspect"})
    void helpCommandPrintsTheSameUsage(String command) {
        CliRun viaHelp = CliRun.of("help", command);
        assertEquals(0, viaHelp.exit(), viaHelp.err());
        assertEquals(CliRun.of(command, "--help").out(), viaHelp.out());
    }

    @Test
    void helpAloneListsEveryCommand() {
        CliRun r = CliRun.of("help");
        assertEquals(0, r.exit(), r.err());
        for (String c : new String[] {"info", "verify", "bench", "demo", "inspect", "help"}) {
            assertTrue(r.out().lines().anyMatch(l -> l.strip().startsWith(c + " ")), () -> c + " in\n" + r.out());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "verify", "bench", "demo", "inspect"})
    void unknownOptionIsOneLinePointingAtHelp(String command) {
        // inspect's FILE is given so that the unknown option is the only problem.
        CliRun r = (command.equals("inspect") ? CliRun.of(command, "--no-such-option", "x.safetensors")
                : CliRun.of(command, "--no-such-option"))
                .assertOneLineError("Unknown option: '--no-such-option'", "'fusedopt " + command + " --help'");
        assertEquals("", r.out(), "the usage is not printed");
    }

    @Test
    void badValuesAreOneLinePointingAtHelp() {
        CliRun.of("demo", "--epochs", "x").assertOneLineError("--epochs", "'x'", "'fusedopt demo --help'");
        CliRun.of("demo", "--epochs", "0").assertOneLineError("--epochs", "0", "'fusedopt demo --help'");
        CliRun.of("demo", "--backend", "tpu").assertOneLineError("tpu", "'fusedopt demo --help'");
        CliRun.of("bench", "--steps", "0").assertOneLineError("--steps", "0", "'fusedopt bench --help'");
        CliRun.of("verify", "--backend").assertOneLineError("--backend", "'fusedopt verify --help'");
        CliRun.of("inspect").assertOneLineError("FILE", "'fusedopt inspect --help'");
        CliRun.of("inspect", "a", "b").assertOneLineError("'b'", "'fusedopt inspect --help'");
    }

    @Test
    void unknownCommandPointsAtTheTopLevelHelp() {
        CliRun.of("train").assertOneLineError("'train'", "'fusedopt --help'");
        CliRun.of("help", "train").assertOneLineError("'train'", "'fusedopt --help'");
    }

    @Test
    void infoReportsTheVersionAndTheBackends() {
        CliRun r = CliRun.of("info");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("fusedopt "), r.out());
        assertTrue(r.out().contains("cpu:  available"), r.out());
        assertTrue(r.out().contains("cuda: "), r.out());
    }

    @Test
    void versionFlagPrintsTheVersion() {
        CliRun r = CliRun.of("--version");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("fusedopt "), r.out());
    }
}
