package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.HyperParam;
import io.fusedopt.rule.Rule;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The README's table of optimizers is the registry's: it is generated from {@link Algorithms#all()} between two
 * markers and this test fails when the two differ. {@code mvn test -Dtest=ReadmeTableTest
 * -Dfusedopt.readme.update=true} rewrites the table.
 */
class ReadmeTableTest {
    static final Path README = Path.of("README.md");
    static final String BEGIN = "<!-- optimizer table: generated from the registry by ReadmeTableTest -->";
    static final String END = "<!-- end of optimizer table -->";

    static String table() {
        StringBuilder b = new StringBuilder();
        b.append("| name | algorithm | hyperparameters (defaults) | state per element | B/param | reference |\n");
        b.append("|---|---|---|---|---|---|\n");
        for (Algorithm a : Algorithms.all()) {
            List<String> names = new ArrayList<>();
            names.add("`" + a.id() + "`");
            a.aliases().keySet().forEach(n -> names.add("`" + n + "`"));
            List<String> params = new ArrayList<>();
            for (HyperParam p : a.params()) {
                Object d = p.defaultValue();
                String v = d instanceof List<?> l ? "(" + join(l) + ")" : render(d);
                params.add(p.key() + " " + v);
            }
            // State and traffic of the configuration bench and the demo run (SGD: with momentum).
            Rule r = a.create(a.variants().get(0).settings());
            b.append("| ").append(String.join(", ", names))
                    .append(" | ").append(a.title())
                    .append(" | ").append(String.join(", ", params))
                    .append(" | ").append(r.slots().isEmpty() ? "none" : String.join(", ", r.slots()))
                    .append(" | ").append(a.variants().get(0).bytesPerParameter())
                    .append(" | ").append(a.reference()).append(" |\n");
        }
        b.append("| `.lookahead(k, alpha)` on any builder | Lookahead | k, alpha (0.5) | + slow | + 8 every k-th step"
                + " | Zhang et al. 2019 |\n");
        return b.toString();
    }

    private static String join(List<?> l) {
        List<String> out = new ArrayList<>();
        l.forEach(x -> out.add(render(x)));
        return String.join(", ", out);
    }

    private static String render(Object v) {
        if (v instanceof Double d) {
            return new java.math.BigDecimal(Double.toString(d)).stripTrailingZeros().toString().toLowerCase(
                    java.util.Locale.ROOT).replace("e+", "e");
        }
        return String.valueOf(v);
    }

    @Test
    void theReadmeTableIsTheRegistry() throws Exception {
        String readme = Files.readString(README, StandardCharsets.UTF_8);
        int a = readme.indexOf(BEGIN), e = readme.indexOf(END);
        assertTrue(a >= 0 && e > a, "README.md lacks the markers " + BEGIN + " ... " + END);
        String current = readme.substring(a + BEGIN.length() + 1, e);
        String expected = table();
        if (Boolean.getBoolean("fusedopt.readme.update") && !current.equals(expected)) {
            Files.writeString(README, readme.substring(0, a + BEGIN.length() + 1) + expected + readme.substring(e),
                    StandardCharsets.UTF_8);
            return;
        }
        assertEquals(expected, current, "README.md's optimizer table; regenerate with -Dfusedopt.readme.update=true");
    }
}
