package io.fusedopt.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fusedopt.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code bench} through the command line, on tiny sizes: shapes of the output and exit codes, never timings. */
class BenchCommandTest {
    /** A small stream reference keeps these runs fast; the default is 64M floats per array. */
    private static final String[] TINY = {"--backend", "cpu", "--params", "4097", "--steps", "2", "--warmup", "1",
            "--bandwidth-elements", "65536"};

    record Run(int code, String out, String err) {
    }

    static Run bench(String... args) {
        List<String> all = new ArrayList<>();
        all.add("bench");
        all.addAll(List.of(args));
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(all.toArray(new String[0]));
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static String[] with(String... extra) {
        List<String> a = new ArrayList<>(List.of(TINY));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    @Test
    void tinyRunPrintsTableAndReferenceLines() {
        Run r = bench(with());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("adamw ") && l.contains(" cpu ") && l.contains(" 4097 ")),
                r.out());
        assertTrue(r.out().contains("bandwidth reference"), r.out());
        assertTrue(r.out().contains("machine: ") && r.out().contains(" cores, Java "), r.out());
    }

    @Test
    void jsonHasExactlyItsFields() throws Exception {
        Run r = bench(with("--json", "--optimizer", "sgd"));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.out());
        JsonNode n = new ObjectMapper().readTree(lines.get(0));
        List<String> fields = new ArrayList<>();
        n.fieldNames().forEachRemaining(fields::add);
        assertEquals(BenchResult.FIELDS, fields);
        assertEquals("sgd", n.get("optimizer").asText());
        assertEquals("cpu", n.get("backend").asText());
        assertEquals(4097, n.get("params").asLong());
        assertEquals(1, n.get("tensors").asInt());
        assertEquals(20L * 4097, n.get("bytes_per_step").asLong());
        assertTrue(n.get("step_ms_median").asDouble() > 0);
        double gbps = n.get("gbps").asDouble(), bw = n.get("bandwidth_gbps").asDouble();
        assertTrue(gbps > 0 && bw > 0);
        assertEquals(gbps / bw, n.get("fraction_of_bandwidth").asDouble(), 1e-9 * (gbps / bw));
        double b2b = n.get("back_to_back_ms").asDouble();
        assertTrue(b2b > 0, "back-to-back steps were timed");
        assertEquals(20.0 * 4097 / (b2b / 1e3) / 1e9, n.get("back_to_back_gbps").asDouble(), 1e-9 * b2b);
    }

    @Test
    void theTrainingLoopCountsTheNormPass() throws Exception {
        Run r = bench(with("--json", "--optimizer", "adamw", "--training-loop"));
        assertEquals(0, r.code(), r.err());
        JsonNode n = new ObjectMapper().readTree(r.out().lines().filter(l -> !l.isBlank()).findFirst().orElseThrow());
        assertEquals((28L + 4) * 4097, n.get("bytes_per_step").asLong(), "AdamW's 28 B/param and one read of g");
        assertTrue(n.get("host_ms_per_step").asDouble() > 0);
    }

    @Test
    void aGraphNeedsCuda() {
        Run r = bench(with("--graph"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--graph") && r.err().contains("CPU"), r.err());
    }

    @Test
    void allRunsEveryConfigurationOnePerLine() throws Exception {
        Run r = bench(with("--json", "--optimizer", "all"));
        assertEquals(0, r.code(), r.err());
        List<String> names = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String l : r.out().lines().filter(l -> !l.isBlank()).toList()) {
            JsonNode n = json.readTree(l);
            assertEquals(BenchResult.FIELDS.size(), n.size(), l);
            names.add(n.get("optimizer").asText());
        }
        assertEquals(BenchOptimizers.NAMES, names);
    }

    @Test
    void invalidOptionsExitTwoNamingOptionAndValue() {
        assertUsage(bench(with("--optimizer", "adamx")), "--optimizer", "adamx");
        assertUsage(bench("--backend", "cpu", "--params", "0"), "--params", "0");
        assertUsage(bench("--backend", "cpu", "--params", "-3"), "--params", "-3");
        assertUsage(bench("--backend", "cpu", "--steps", "0"), "--steps", "0");
        assertUsage(bench("--backend", "cpu", "--params", "5", "--model", "gpt2-small"), "--params", "--model");
        assertUsage(bench("--backend", "tpu"), "--backend", "tpu");
        assertUsage(bench("--backend", "cpu", "--model", "gpt3"), "--model", "gpt3");
        assertUsage(bench("--backend", "cpu", "--warmup", "-1"), "--warmup", "-1");
    }

    private static void assertUsage(Run r, String option, String value) {
        assertEquals(2, r.code(), r.out() + r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).contains(option) && lines.get(0).contains(value), lines.get(0));
        assertFalse(r.out().contains("optimizer "), "no table is printed: " + r.out());
    }
}
