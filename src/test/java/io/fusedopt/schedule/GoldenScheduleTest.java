package io.fusedopt.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The rates of every golden case that has a schedule: the {@code sched_*} cases and the
 * optimizer cases whose {@code schedule} is not null. Each file is one named test. The golden
 * folder is {@code golden/} on the test classpath, or the system property
 * {@code fusedopt.golden.dir}.
 */
class GoldenScheduleTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> scheduleOnlyCases() {
        List<Path> files = goldenFiles().stream()
                .filter(p -> p.getFileName().toString().startsWith("sched_"))
                .toList();
        assertFalse(files.isEmpty(), "no sched_*.json in " + goldenDir());
        return files.stream().map(f -> dynamicTest(f.getFileName().toString(), () -> {
            Map<String, Object> c = read(f);
            assertEquals(null, c.get("optimizer"), "schedule-only cases have no optimizer");
            checkRates(c);
        }));
    }

    @TestFactory
    Stream<DynamicTest> optimizerCasesWithSchedule() {
        List<Path> files = goldenFiles().stream()
                .filter(p -> !p.getFileName().toString().startsWith("sched_"))
                .filter(p -> read(p).get("schedule") != null)
                .toList();
        assertFalse(files.isEmpty(), "no optimizer case with a schedule in " + goldenDir());
        return files.stream().map(f -> dynamicTest(f.getFileName().toString(),
                () -> checkRates(read(f))));
    }

    /** Each golden spec also survives toSpec unchanged, up to Integer/Long. */
    @TestFactory
    Stream<DynamicTest> goldenSpecsRoundTrip() {
        return goldenFiles().stream()
                .filter(p -> read(p).get("schedule") != null)
                .map(f -> dynamicTest(f.getFileName().toString(), () -> {
                    Map<String, Object> spec = spec(read(f));
                    Schedule s = Schedules.fromSpec(spec);
                    assertEquals(normalize(spec), normalize(s.toSpec()));
                    assertEquals(s, Schedules.fromSpec(s.toSpec()));
                }));
    }

    private static void checkRates(Map<String, Object> c) {
        Schedule s = Schedules.fromSpec(spec(c));
        double baseLr = number(map(c.get("hyperparams")).get("lr"));
        Map<String, Object> tol = map(c.get("tolerance"));
        // A format-2 case of 16-bit outputs has only an ulps tolerance; its rates are float64 values and are
        // checked with the schedule tolerance, as GoldenRunner checks every optimizer case's rates.
        boolean ulpsOnly = !tol.containsKey("rel") && !tol.containsKey("abs");
        double rel = ulpsOnly ? io.fusedopt.golden.GoldenRunner.LR_REL : number(tol.get("rel"));
        double abs = ulpsOnly ? io.fusedopt.golden.GoldenRunner.LR_ABS : number(tol.get("abs"));
        List<?> steps = (List<?>) c.get("steps");
        assertFalse(steps.isEmpty());
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            double expected = number(map(steps.get(i)).get("lr"));
            double actual = s.lr(i, baseLr);
            if (!(Math.abs(actual - expected) <= abs + rel * Math.abs(expected))) {
                failures.add("step " + i + ": expected " + expected + ", got " + actual);
            }
        }
        assertTrue(failures.isEmpty(), s + " with baseLr " + baseLr + ":\n"
                + String.join("\n", failures));
    }

    static Path goldenDir() {
        String dir = System.getProperty("fusedopt.golden.dir");
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        URL url = GoldenScheduleTest.class.getClassLoader().getResource("golden");
        assertNotNull(url, "golden/ is not on the test classpath");
        try {
            return Path.of(url.toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Path> goldenFiles() {
        try (Stream<Path> s = Files.list(goldenDir())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Map<String, Object> read(Path file) {
        try {
            return JSON.readValue(file.toFile(), new TypeReference<Map<String, Object>>() {});
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Map<String, Object> spec(Map<String, Object> c) {
        return map(c.get("schedule"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    private static double number(Object o) {
        return ((Number) o).doubleValue();
    }

    /** Integers as Long, floats as Double, so that JSON's and toSpec's number classes compare. */
    static Object normalize(Object o) {
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put((String) k, normalize(v)));
            return out;
        }
        if (o instanceof List<?> l) {
            return l.stream().map(GoldenScheduleTest::normalize).collect(Collectors.toList());
        }
        if (o instanceof Integer || o instanceof Short || o instanceof Byte) {
            return ((Number) o).longValue();
        }
        if (o instanceof Float f) {
            return f.doubleValue();
        }
        return o;
    }
}
