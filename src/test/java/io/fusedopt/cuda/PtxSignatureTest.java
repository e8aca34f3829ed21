package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.ParameterStore;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.Rule;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The compiled PTX and the Java launcher agree: every entry of {@link Kernel#all()} (derived from the algorithm
 * registry) exists in its module with the same parameter count, kinds and widths; every entry of every committed
 * optimizer module is in that table (a new {@code .cu} entry nobody registered fails here); and the arguments the
 * step program builds for every pass of every configuration match the PTX of the entry it launches.
 */
class PtxSignatureTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
    private static final Pattern PARAM = Pattern.compile("\\.param\\s+\\.(\\w+)\\s+(\\w+)");
    /** The demo's own kernels (the device MLP), which no optimizer launches. */
    static final String DEMO_MODULE = "demo";
    /** Module/entry of every entry of the modules the table names, with its PTX parameter types. */
    private static final Map<String, List<String>> ENTRIES = new HashMap<>();
    /** Every entry name of every compiled module, as the kernel build lists them in {@code kernels.txt}. */
    private static final Set<String> ALL_ENTRIES = new TreeSet<>();
    /** The demo module's entries. */
    private static final Set<String> DEMO_ENTRIES = new TreeSet<>();

    /** A kernel resource from the class path, so that the test runs from a bundle without the source tree too. */
    private static String resource(String name) throws IOException {
        try (InputStream in = PtxSignatureTest.class.getResourceAsStream("/io/fusedopt/cuda/" + name)) {
            assertNotNull(in, name + " is missing from the kernel resources");
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    private static void read(String module, Map<String, List<String>> into) throws IOException {
        Matcher e = ENTRY.matcher(resource(module + ".ptx"));
        while (e.find()) {
            List<String> types = new ArrayList<>();
            Matcher p = PARAM.matcher(e.group(2));
            while (p.find()) {
                types.add(p.group(1));
            }
            into.put(module + "/" + e.group(1), types);
        }
    }

    @BeforeAll
    static void parse() throws IOException {
        Set<String> modules = new TreeSet<>();
        Kernel.all().forEach(k -> modules.add(k.module()));
        for (String m : modules) {
            read(m, ENTRIES);
        }
        Map<String, List<String>> demo = new HashMap<>();
        if (PtxSignatureTest.class.getResource("/io/fusedopt/cuda/" + DEMO_MODULE + ".ptx") != null) {
            read(DEMO_MODULE, demo);
        }
        demo.keySet().forEach(k -> DEMO_ENTRIES.add(k.substring(k.indexOf('/') + 1)));
        for (String line : resource("kernels.txt").split("\n")) {
            if (!line.isBlank()) {
                ALL_ENTRIES.add(line.strip());
            }
        }
        assertTrue(ENTRIES.size() > 10, "the committed PTX was read");
    }

    private static Kernel.Param kind(String ptxType) {
        switch (ptxType) {
            case "u64": case "s64": case "b64":
                return Kernel.Param.PTR;
            case "u32": case "s32": case "b32":
                return Kernel.Param.INT;
            case "f32":
                return Kernel.Param.FLOAT;
            default:
                throw new AssertionError("unexpected PTX parameter type ." + ptxType);
        }
    }

    private static List<Kernel.Param> ptxParams(Kernel k) {
        List<String> types = ENTRIES.get(k.module() + "/" + k.entry());
        assertNotNull(types, "entry " + k.entry() + " not found in " + k.module() + ".ptx");
        return types.stream().map(PtxSignatureTest::kind).toList();
    }

    @Test
    void everyTableEntryMatchesItsPtxDeclaration() {
        for (Kernel k : Kernel.all()) {
            assertEquals(k.params(), ptxParams(k), k.entry());
        }
    }

    @Test
    void everyPtxEntryIsInTheTable() {
        Set<String> known = new TreeSet<>();
        Set<String> names = new TreeSet<>();
        for (Kernel k : Kernel.all()) {
            known.add(k.module() + "/" + k.entry());
            names.add(k.entry());
        }
        assertEquals(new TreeSet<>(ENTRIES.keySet()), known,
                "the kernel entries of the table's modules and those the registry's algorithms launch");
        Set<String> compiled = new TreeSet<>(ALL_ENTRIES);
        compiled.removeAll(DEMO_ENTRIES);
        assertEquals(compiled, names, "every entry of every compiled module (kernels.txt) but the demo's, and the"
                + " entries the registry's algorithms launch");
    }

    @Test
    void theLauncherPassesWhatEachEntryDeclares() {
        CUdeviceptr p = new CUdeviceptr();
        Set<String> launched = new TreeSet<>();
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                Rule rule = a.create(v.settings());
                List<CUdeviceptr> slots = new ArrayList<>(Collections.nCopies(rule.slots().size(), p));
                boolean geo = rule.tensorGeometryWidth() > 0;
                CudaStepProgram.Pointers ptrs = new CudaStepProgram.Pointers(p, p, slots, p, p, 1, p, p,
                        rule.finishScalarCount() > 0 ? p : null, p, p, rule.tensorStateWidth() > 0 ? p : null, p, 1,
                        geo ? p : null, geo ? p : null, 1,
                        rule.passes().contains(Rule.Pass.ORTHOGONALIZE) ? p : null, 1);
                for (String regime : rule.float32Only() ? List.of("f32") : Kernel.REGIMES) {
                    // The regime's tail as the step program builds it: the model copy, or the seed.
                    CudaStepProgram.Tail tail = new CudaStepProgram.Tail(Kernel.masterRegime(regime) ? p : null,
                            Kernel.stochasticRegime(regime), 7L);
                    for (boolean check : new boolean[] {false, true}) {
                        for (boolean init : new boolean[] {false, true}) {
                            for (boolean sync : new boolean[] {false, true}) {
                                for (StepPlan.Pass pass : StepPlan.of(rule, check, init, sync).passes()) {
                                    Kernel k = Kernel.of(rule, pass, regime);
                                    assertEquals(ptxParams(k), CudaStepProgram.args(k, pass, ptrs, 0.5f, tail)
                                            .kinds(), v.name() + " " + regime + " " + pass + " -> " + k.entry());
                                    launched.add(k.entry());
                                }
                            }
                        }
                    }
                }
            }
        }
        // The step's own entries, launched around the rule's passes by every step.
        for (String regime : Kernel.REGIMES) {
            Kernel norm = Kernel.gradNorm(regime);
            assertEquals(ptxParams(norm), CudaStepProgram.gradNormArgs(p, p, 1, p, p).kinds(), norm.entry());
            launched.add(norm.entry());
        }
        assertEquals(ptxParams(Kernel.STEP_DECIDE), CudaStepProgram.decideArgs(p, p, 1, p, p).kinds());
        launched.add(Kernel.STEP_DECIDE.entry());
        Set<String> all = new TreeSet<>();
        Kernel.all().forEach(k -> all.add(k.entry()));
        assertEquals(all, launched, "every kernel is launched by some plan");
    }

    @Test
    void theChunkTableCarries64BitOffsets() {
        long big = (1L << 31) + 5;
        io.fusedopt.backend.ArenaLayout layout =
                ParameterStore.builder().add("embedding", big).add("bias", 7).plan();
        java.nio.ByteBuffer table = CudaStepProgram.encodeChunks(layout);
        int chunks = layout.chunkCount();
        assertEquals(chunks * CudaStepProgram.CHUNK_DESC_BYTES, table.remaining());
        long lastOfFirst = table.getLong((chunks - 2) * CudaStepProgram.CHUNK_DESC_BYTES);
        int lastLength = table.getInt((chunks - 2) * CudaStepProgram.CHUNK_DESC_BYTES + 8);
        assertEquals(big, lastOfFirst + lastLength, "the first tensor's last chunk ends at 2^31 + 5");
        assertTrue(lastOfFirst > Integer.MAX_VALUE);
        assertEquals((big + 63) / 64 * 64, table.getLong((chunks - 1) * CudaStepProgram.CHUNK_DESC_BYTES));
        assertEquals(7, table.getInt((chunks - 1) * CudaStepProgram.CHUNK_DESC_BYTES + 8));
        assertEquals(1, table.getInt((chunks - 1) * CudaStepProgram.CHUNK_DESC_BYTES + 12));
    }
}
