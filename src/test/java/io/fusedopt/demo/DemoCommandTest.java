package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.cli.Main;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * The {@code demo} command end to end: its outputs, and its answers to bad arguments. Isolated because it swaps
 * {@code System.out} and {@code System.err}, which no other test may write to meanwhile.
 */
@Isolated
class DemoCommandTest {
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private PrintStream savedOut;
    private PrintStream savedErr;

    @BeforeEach
    void capture() {
        savedOut = System.out;
        savedErr = System.err;
        System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(savedOut);
        System.setErr(savedErr);
    }

    @Test
    void unknownOptimizerExitsWithTwoAndOneLineNamingIt() {
        assertEquals(2, Main.run("demo", "--optimizers", "nope"));
        String err = stderr.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("'nope'"), err);
        assertEquals("", stdout.toString(StandardCharsets.UTF_8), "nothing may run before the check");
    }

    @Test
    void otherBadValuesExitWithTwo() {
        assertEquals(2, Main.run("demo", "--schedules", "cosine"));
        assertEquals(2, Main.run("demo", "--epochs", "0"));
        assertEquals(2, Main.run("demo", "--backend", "tpu"));
        assertEquals(2, Main.run("demo", "--optimizers", "adam,adam"));
    }

    @Test
    void writesTheTableTheCsvAndThePng(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("nested/out");
        int code = Main.run("demo", "--epochs", "1", "--optimizers", "sgd,adam", "--backend", "cpu", "--out",
                out.toString());
        String text = stdout.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, text + stderr.toString(StandardCharsets.UTF_8));
        assertTrue(text.contains("SGD+momentum     sgdr"), text);
        assertTrue(text.contains("Adam             constant"), text);
        assertTrue(text.contains("CC BY 4.0"), text);

        List<String> csv = Files.readAllLines(out.resolve(DigitsDemo.CSV_NAME));
        assertEquals(DemoCsv.HEADER, csv.get(0));
        assertEquals(1 + 4 * 2, csv.size(), "one row per run and epoch, epoch 0 included: " + csv);
        assertTrue(csv.get(1).startsWith("sgd,constant,0,0,"), csv.get(1));
        assertTrue(csv.get(2).startsWith("sgd,constant,1,45,"), csv.get(2));
        assertTrue(csv.get(8).startsWith("adam,sgdr,1,45,"), csv.get(8));
        for (String row : csv.subList(1, csv.size())) {
            assertEquals(7, row.split(",").length, row);
        }

        Path png = out.resolve(DigitsDemo.PNG_NAME);
        assertTrue(Files.size(png) > 10_000, "the chart is suspiciously small: " + Files.size(png));
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(2 * 820, image.getWidth());
        // Progress went to stderr as plain lines (the test's output is not a terminal), one per run.
        String err = stderr.toString(StandardCharsets.UTF_8);
        assertEquals(4, err.lines().filter(l -> l.startsWith("[")).count(), err);
    }
}
