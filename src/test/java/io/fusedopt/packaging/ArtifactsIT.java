package io.fusedopt.packaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * The packaged artifacts as a user meets them, after {@code mvn package}: the library jar and the POM that is
 * installed with it (the dependency-reduced POM), and the command-line jar. A consumer program
 * ({@code src/it/consumer}) that pins Jackson 2.14.3 is compiled against the library jar and its declared
 * dependencies only, and trains with checkpoints, with its Jackson before and after fusedopt on the class path.
 */
class ArtifactsIT {
    private static final String JACKSON = "2.14.3";
    private static final Set<String> INTERNAL = Set.of("cli", "demo", "bench", "golden", "jmh", "data");

    private static Path target;
    private static Path library;
    private static Path cli;
    private static List<Path> declared;
    private static final Set<String> declaredCoordinates = new TreeSet<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void locate() throws Exception {
        target = Path.of(System.getProperty("fusedopt.it.target", "target"));
        library = target.resolve(System.getProperty("fusedopt.it.library", "fusedopt-0.1.0.jar"));
        cli = target.resolve("fusedopt.jar");
        assertTrue(Files.isRegularFile(library), "library jar " + library);
        assertTrue(Files.isRegularFile(cli), "cli jar " + cli);
        declared = runtimeDependencies(target.resolve("dependency-reduced-pom.xml"),
                Path.of(System.getProperty("fusedopt.it.repo")));
    }

    @Test
    void installedPomDeclaresOnlyJCudaAtRunTime() throws Exception {
        assertEquals(Set.of("org.jcuda:jcuda", "org.jcuda:jcuda-natives"), declaredCoordinates);
    }

    @Test
    void libraryJarHoldsTheLibraryAndRelocatedJacksonOnly() throws IOException {
        Set<String> classes = classes(library);
        List<String> stray = classes.stream()
                .filter(c -> !c.startsWith("io/fusedopt/") || INTERNAL.contains(c.split("/")[2])
                        || c.startsWith("io/fusedopt/shaded/") && !c.startsWith("io/fusedopt/shaded/jackson/"))
                .filter(c -> !c.equals("module-info.class"))
                .collect(Collectors.toList());
        assertEquals(List.of(), stray, "classes that do not belong in the library jar");
        assertTrue(classes.contains("io/fusedopt/shaded/jackson/databind/ObjectMapper.class"), "relocated Jackson");
        assertTrue(classes.contains("io/fusedopt/Optimizer.class"));
        try (ZipFile z = new ZipFile(library.toFile())) {
            assertTrue(z.getEntry("io/fusedopt/cuda/adam.fatbin") != null, "kernels ship with the library");
            assertTrue(z.getEntry("io/fusedopt/cuda/demo.ptx") == null, "the demo's kernels do not");
            assertTrue(z.getEntry("module-info.class") != null, "module descriptor");
        }
    }

    @Test
    void noClassTwiceOnAConsumersClassPath() throws IOException {
        Map<String, String> seen = new HashMap<>();
        List<String> twice = new ArrayList<>();
        for (Path jar : consumerClassPath(true)) {
            for (String c : classes(jar)) {
                String before = seen.putIfAbsent(c, jar.getFileName().toString());
                if (before != null && !c.equals("module-info.class")) {
                    twice.add(c + " in " + before + " and " + jar.getFileName());
                }
            }
        }
        assertEquals(List.of(), twice);
    }

    @Test
    void cliJarRelocatesEverythingButTheJniBindings() throws Exception {
        List<String> unrelocated = classes(cli).stream()
                .filter(c -> !c.startsWith("io/fusedopt/") && !c.startsWith("jcuda/") && !c.startsWith("org/jline/"))
                .collect(Collectors.toList());
        assertEquals(List.of(), unrelocated, "classes the cli jar bundles without relocating");
        Result r = java(List.of("-jar", cli.toString(), "--version"));
        assertEquals(0, r.exit, r.out);
        assertTrue(r.out.contains("fusedopt 0.1.0"), r.out);
    }

    @Test
    void consumerWithJackson2143FirstTrainsWithCheckpoints() throws Exception {
        consumerRuns(true);
    }

    @Test
    void consumerWithJackson2143AfterFusedoptTrainsWithCheckpoints() throws Exception {
        consumerRuns(false);
    }

    private void consumerRuns(boolean jacksonFirst) throws Exception {
        List<Path> cp = consumerClassPath(jacksonFirst);
        Path classes = tmp.resolve("classes");
        Files.createDirectories(classes);
        Path source = Path.of(System.getProperty("fusedopt.it.consumer", "src/it/consumer"))
                .resolve("example/ConsumerApp.java");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, "--release", "17", "-d", classes.toString(), "-cp", join(cp),
                source.toString());
        assertEquals(0, rc, "the consumer compiles against the library jar and its declared dependencies");
        List<Path> run = new ArrayList<>(cp);
        run.add(classes);
        Result r = java(List.of("-cp", join(run), "example.ConsumerApp", tmp.toString(), JACKSON));
        assertEquals(0, r.exit, r.out);
        assertTrue(r.out.contains("application jackson " + JACKSON), r.out);
        assertTrue(r.out.contains("resumed run bit-identical"), r.out);
        assertTrue(r.out.contains("corrupt checkpoint refused: "), r.out);
    }

    @Test
    void onTheModulePathOnlyTheApiPackagesAreExported() throws Exception {
        Path consumers = Path.of(System.getProperty("fusedopt.it.consumer", "src/it/consumer")).resolveSibling(
                "module-consumer");
        List<Path> modulePath = new ArrayList<>();
        modulePath.add(library);
        modulePath.addAll(declared);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();

        Path classes = tmp.resolve("modular");
        Path app = consumers.resolve("example.modular");
        int rc = javac.run(null, null, null, "--release", "17", "-d", classes.toString(), "-p", join(modulePath),
                app.resolve("module-info.java").toString(),
                app.resolve("example/modular/ModularApp.java").toString());
        assertEquals(0, rc, "a module requiring io.fusedopt compiles");
        List<Path> run = new ArrayList<>(modulePath);
        run.add(classes);
        Result r = java(List.of("-p", join(run), "-m", "example.modular/example.modular.ModularApp",
                tmp.toString()));
        assertEquals(0, r.exit, r.out);
        assertTrue(r.out.contains("steps 1"), r.out);
        assertTrue(r.out.contains("module io.fusedopt exports [io.fusedopt, io.fusedopt.core, io.fusedopt.rule,"
                + " io.fusedopt.schedule]"), r.out);

        Path internal = consumers.resolve("internal-use");
        java.io.ByteArrayOutputStream errors = new java.io.ByteArrayOutputStream();
        rc = javac.run(null, null, errors, "--release", "17", "-d", tmp.resolve("internal").toString(), "-p",
                join(modulePath), internal.resolve("module-info.java").toString(),
                internal.resolve("example/internal/UsesBackend.java").toString());
        String err = errors.toString(StandardCharsets.UTF_8);
        assertTrue(rc != 0 && err.contains("io.fusedopt.cpu") && err.contains("not visible"),
                () -> "the CPU backend package must not be visible to modules:\n" + err);
    }

    private static List<Path> consumerClassPath(boolean jacksonFirst) throws IOException {
        List<Path> jackson;
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("fusedopt.it.jackson")))) {
            jackson = s.filter(p -> p.toString().endsWith(".jar")).sorted().collect(Collectors.toList());
        }
        assertEquals(3, jackson.size(), () -> "Jackson " + JACKSON + " jars: " + jackson);
        List<Path> cp = new ArrayList<>();
        if (jacksonFirst) {
            cp.addAll(jackson);
        }
        cp.add(library);
        cp.addAll(declared);
        if (!jacksonFirst) {
            cp.addAll(jackson);
        }
        return cp;
    }

    /** The compile and runtime dependencies a consumer inherits from {@code pom}, as jars in {@code repo}. */
    private static List<Path> runtimeDependencies(Path pom, Path repo) throws Exception {
        Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile())
                .getDocumentElement();
        List<Path> jars = new ArrayList<>();
        for (Node n = project.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (!(n instanceof Element) || !((Element) n).getTagName().equals("dependencies")) {
                continue;
            }
            NodeList deps = ((Element) n).getElementsByTagName("dependency");
            for (int i = 0; i < deps.getLength(); i++) {
                Element d = (Element) deps.item(i);
                if (d.getParentNode() != n) {
                    continue;
                }
                String scope = text(d, "scope", "compile");
                if (text(d, "optional", "false").equals("true") || !(scope.equals("compile") || scope.equals(
                        "runtime"))) {
                    continue;
                }
                String g = text(d, "groupId", ""), a = text(d, "artifactId", ""), v = text(d, "version", "");
                String c = text(d, "classifier", "");
                declaredCoordinates.add(g + ":" + a);
                jars.add(repo.resolve(g.replace('.', '/')).resolve(a).resolve(v)
                        .resolve(a + "-" + v + (c.isEmpty() ? "" : "-" + c) + ".jar"));
            }
        }
        for (Path j : jars) {
            assertTrue(Files.isRegularFile(j), "declared dependency " + j);
        }
        return jars;
    }

    private static String text(Element e, String tag, String dflt) {
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element && ((Element) n).getTagName().equals(tag)) {
                return n.getTextContent().trim();
            }
        }
        return dflt;
    }

    private static Set<String> classes(Path jar) throws IOException {
        Set<String> out = new TreeSet<>();
        try (ZipFile z = new ZipFile(jar.toFile())) {
            for (Enumeration<? extends ZipEntry> en = z.entries(); en.hasMoreElements(); ) {
                String name = en.nextElement().getName();
                if (name.startsWith("META-INF/versions/")) {
                    name = name.substring(name.indexOf('/', "META-INF/versions/".length()) + 1);
                }
                if (name.endsWith(".class")) {
                    out.add(name);
                }
            }
        }
        return out;
    }

    private static String join(List<Path> paths) {
        return paths.stream().map(Path::toString).collect(Collectors.joining(java.io.File.pathSeparator));
    }

    private record Result(int exit, String out) {
    }

    private Result java(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("LD_LIBRARY_PATH");
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + cmd);
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
