package io.fusedopt.rule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.golden.GoldenCase;
import java.io.IOException;
import java.lang.reflect.Modifier;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The registry and what it describes agree in both directions: every concrete rule class is the rule of a
 * registered algorithm and every algorithm builds its rule; every algorithm has golden cases and every golden case
 * names a registered algorithm; every algorithm's kernel module is committed. ({@code PtxSignatureTest} holds the
 * kernel entries of every committed PTX module against the registry in both directions.)
 */
class RegistryTest {
    private static final Path RULES = Path.of("target/classes/io/fusedopt/rule");
    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final Path KERNELS = Path.of("src/main/resources/io/fusedopt/cuda");

    /** The simple names of the concrete {@link Rule} subclasses compiled into the rule package. */
    static Set<String> ruleClasses() throws IOException, ClassNotFoundException {
        Set<String> out = new TreeSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(RULES, "*.class")) {
            for (Path f : files) {
                String n = f.getFileName().toString().replaceFirst("\\.class$", "");
                if (n.contains("$")) {
                    continue;
                }
                Class<?> c = Class.forName("io.fusedopt.rule." + n);
                if (Rule.class.isAssignableFrom(c) && !Modifier.isAbstract(c.getModifiers())) {
                    out.add(c.getSimpleName());
                }
            }
        }
        return out;
    }

    @Test
    void everyRuleClassIsRegisteredAndEveryAlgorithmBuildsOne() throws Exception {
        Set<String> built = new TreeSet<>();
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                Rule r = a.create(v.settings());
                assertEquals(a, r.algorithm(), v.name());
                assertEquals(a.id(), r.id(), v.name());
                built.add(r.getClass().getSimpleName());
            }
        }
        assertEquals(ruleClasses(), built, "rule classes in io.fusedopt.rule and those the registry builds");
    }

    @Test
    void goldenCasesAndAlgorithmsCoverEachOther() throws Exception {
        Set<String> named = new TreeSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(GOLDEN, "*.json")) {
            for (Path f : files) {
                GoldenCase c = GoldenCase.read(f);
                if (c.scheduleOnly()) {
                    continue;
                }
                String id = "lookahead".equals(c.optimizer()) ? (String) c.lookahead().get("inner") : c.optimizer();
                assertTrue(c.runnable(), f + " is in the test cases but cannot run: " + c.unsupported());
                named.add(Algorithms.named(id).id());
            }
        }
        assertEquals(new TreeSet<>(Algorithms.ids()), named,
                "registered algorithms and the algorithms the golden cases exercise");
    }

    @Test
    void everyAlgorithmHasItsKernelModule() {
        for (Algorithm a : Algorithms.all()) {
            assertTrue(Files.isRegularFile(KERNELS.resolve(a.module() + ".ptx")), a.id() + ": " + a.module() + ".ptx");
            assertTrue(Files.isRegularFile(KERNELS.resolve(a.module() + ".fatbin")),
                    a.id() + ": " + a.module() + ".fatbin");
            assertTrue(Files.isRegularFile(Path.of("cuda", a.module() + ".cu")), a.id() + ": cuda/" + a.module() + ".cu");
        }
    }

    @Test
    void namesAliasesAndDefaultsAreConsistent() {
        assertEquals(Algorithms.all().size(), new TreeSet<>(Algorithms.ids()).size(), "ids are unique");
        assertTrue(Algorithms.names().contains("amsbound"), "aliases are names");
        assertEquals(Map.of("amsbound", true), Algorithms.aliasSettings("amsbound"));
        assertEquals("adabound", Algorithms.named("AMSBound").id());
        for (Algorithm a : Algorithms.all()) {
            assertFalse(a.variants().isEmpty(), a.id());
            assertEquals(a.id(), a.variants().get(0).name(), "an algorithm's first configuration carries its id");
            // The defaults themselves pass the algorithm's own validation.
            a.values(Map.of(), "");
        }
    }
}
