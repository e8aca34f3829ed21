package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerSpec;
import io.fusedopt.ParameterStore;
import io.fusedopt.rule.Rule;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
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
 * The compiled PTX and the Java launcher agree: every {@link Kernel} exists in its module with the same parameter
 * count, kinds and widths, every PTX entry is in the enum, and the arguments the step program builds for each rule
 * match the PTX of the entry it launches.
 */
class PtxSignatureTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
    private static final Pattern PARAM = Pattern.compile("\\.param\\s+\\.(\\w+)\\s+(\\w+)");
    private static final Map<String, List<String>> ENTRIES = new HashMap<>();

    @BeforeAll
    static void parse() throws IOException {
        Set<String> modules = new TreeSet<>();
        for (Kernel k : Kernel.values()) {
            modules.add(k.module());
        }
        for (String m : modules) {
            try (InputStream in = PtxSignatureTest.class.getResourceAsStream("/io/fusedopt/cuda/" + m + ".ptx")) {
                assertNotNull(in, "module " + m + ".ptx is missing from the resources");
                String ptx = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                Matcher e = ENTRY.matcher(ptx);
                while (e.find()) {
                    List<String> types = new ArrayList<>();
                    Matcher p = PARAM.matcher(e.group(2));
                    while (p.find()) {
                        types.add(p.group(1));
                    }
                    ENTRIES.put(m + "/" + e.group(1), types);
                }
            }
        }
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
    void everyEnumEntryMatchesItsPtxDeclaration() {
        for (Kernel k : Kernel.values()) {
            assertEquals(k.params(), ptxParams(k), k.entry());
        }
    }

    @Test
    void everyPtxEntryIsInTheEnum() {
        Set<String> known = new TreeSet<>();
        for (Kernel k : Kernel.values()) {
            known.add(k.module() + "/" + k.entry());
        }
        assertEquals(known, new TreeSet<>(ENTRIES.keySet()));
    }

    /** One rule of every kernel family, built as users build them. */
    private static List<Rule> oneRulePerFamily() {
        List<Object[]> specs = List.of(
                new Object[] {"sgd", Map.of("lr", 0.1)},
                new Object[] {"sgd", Map.of("lr", 0.1, "momentum", 0.9)},
                new Object[] {"sgdw", Map.of("lr", 0.1)},
                new Object[] {"sgdw", Map.of("lr", 0.1, "momentum", 0.9)},
                new Object[] {"adam", Map.of("lr", 0.1)},
                new Object[] {"adamw", Map.of("lr", 0.1)},
                new Object[] {"adam", Map.of("lr", 0.1, "amsgrad", true)},
                new Object[] {"adamw", Map.of("lr", 0.1, "amsgrad", true)},
                new Object[] {"adagrad", Map.of("lr", 0.1)},
                new Object[] {"radam", Map.of("lr", 0.1)},
                new Object[] {"nadam", Map.of("lr", 0.1)},
                new Object[] {"adabelief", Map.of("lr", 0.1)},
                new Object[] {"adabelief", Map.of("lr", 0.1, "amsgrad", true)},
                new Object[] {"adabound", Map.of("lr", 0.1)},
                new Object[] {"adabound", Map.of("lr", 0.1, "amsbound", true)},
                new Object[] {"yogi", Map.of("lr", 0.1)},
                new Object[] {"lamb", Map.of("lr", 0.1)},
                new Object[] {"swats", Map.of("lr", 0.1)});
        List<Rule> rules = new ArrayList<>();
        try (Device d = Device.cpu(); ParameterStore s = ParameterStore.builder().add("w", 2).build(d)) {
            for (Object[] spec : specs) {
                @SuppressWarnings("unchecked")
                Map<String, Object> h = (Map<String, Object>) spec[1];
                try (Optimizer o = OptimizerSpec.builder((String) spec[0], h, null, null).build(s)) {
                    rules.add(o.rule());
                }
            }
        }
        return rules;
    }

    @Test
    void theLauncherPassesWhatEachEntryDeclares() {
        CUdeviceptr p = new CUdeviceptr();
        Set<Kernel> launched = EnumSet.noneOf(Kernel.class);
        for (Rule rule : oneRulePerFamily()) {
            List<CUdeviceptr> slots = new ArrayList<>(Collections.nCopies(rule.slots().size(), p));
            for (boolean lookahead : new boolean[] {false, true}) {
                Kernel k = Kernel.update(rule.kernelFamily(), lookahead);
                KernelArgs a = CudaStepProgram.updateArgs(k, p, p, slots, p, 1, p, p, p,
                        rule.tensorStateWidth() > 0 ? p : null,
                        rule.reduction() == Rule.Reduction.DURING_UPDATE ? p : null, lookahead ? p : null, 0.5f);
                assertEquals(ptxParams(k), a.kinds(), rule.id() + " -> " + k.entry());
                launched.add(k);
            }
        }
        assertEquals(ptxParams(Kernel.LAMB_NORM_F32),
                CudaStepProgram.lambNormArgs(p, p, p, p, p, 1, p, p, p, p).kinds());
        assertEquals(ptxParams(Kernel.LAMB_FINALIZE), CudaStepProgram.lambFinalizeArgs(p, 1, p, 1, p).kinds());
        assertEquals(ptxParams(Kernel.SWATS_FINALIZE),
                CudaStepProgram.swatsFinalizeArgs(p, 1, p, p, 1, p, p, p).kinds());
        assertEquals(ptxParams(Kernel.FINITE_CHECK_F32), CudaStepProgram.finiteArgs(p, p, 1, p).kinds());
        launched.addAll(List.of(Kernel.LAMB_NORM_F32, Kernel.LAMB_FINALIZE, Kernel.SWATS_FINALIZE,
                Kernel.FINITE_CHECK_F32));
        assertEquals(EnumSet.allOf(Kernel.class), launched, "every kernel is launched by some rule");
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
