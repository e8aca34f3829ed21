package io.fusedopt.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.golden.GoldenRunner;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Proof that the stand-in runs the shipped kernels: the committed {@code adam.ptx} loaded in place of the module
 * agrees with the CPU bit for bit, and the same PTX with one {@code fma.rn.f32} of {@code adamw_f32} split into
 * {@code mul.rn.f32} + {@code add.rn.f32} (two roundings instead of one) does not.
 */
@Tag("cuda-emu")
class PtxMutationTest {
    private static final Pattern FMA =
            Pattern.compile("fma\\.rn\\.f32\\s+(%f\\d+),\\s*(%f\\d+),\\s*(%f\\d+),\\s*(%f\\d+);");

    @BeforeAll
    static void requireStandIn() {
        if (System.getProperty("fusedopt.emu.dir") != null) {
            assertTrue(StandIn.active(), StandIn::inactiveReason);
        } else {
            assumeTrue(StandIn.active(), "CUDA stand-in not active: " + StandIn.inactiveReason());
        }
    }

    @AfterEach
    void endOverride() {
        StandIn.overrideModule(null);
    }

    private static String committedAdamPtx() throws IOException {
        try (InputStream in = PtxMutationTest.class.getResourceAsStream("/io/fusedopt/cuda/adam.ptx")) {
            assertNotNull(in, "adam.ptx missing from the resources");
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    /** The PTX with the first fma.rn.f32 of the adamw_f32 entry written as a separate multiply and add. */
    static String splitFirstFma(String ptx) {
        int entry = ptx.indexOf(".entry adamw_f32(");
        assertTrue(entry >= 0, "no adamw_f32 entry");
        int end = ptx.indexOf(".entry ", entry + 1);
        Matcher m = FMA.matcher(ptx);
        assertTrue(m.find(entry) && (end < 0 || m.start() < end), "no fma.rn.f32 in adamw_f32");
        String replacement = "mul.rn.f32 " + m.group(1) + ", " + m.group(2) + ", " + m.group(3) + ";\n\tadd.rn.f32 "
                + m.group(1) + ", " + m.group(1) + ", " + m.group(4) + ";";
        return ptx.substring(0, m.start()) + replacement + ptx.substring(m.end());
    }

    /** The first difference between AdamW on the CUDA stand-in and on the CPU after three steps; null if none. */
    private static String adamWDifference() {
        Random r = new Random(17);
        int n = 4099;
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) r.nextGaussian();
        }
        try (Device cuda = Device.cuda(); Device cpu = Device.cpu();
                ParameterStore sa = ParameterStore.builder().add("w", n).build(cuda);
                ParameterStore sb = ParameterStore.builder().add("w", n).build(cpu);
                Optimizer oa = Optimizers.adamW().build(sa); Optimizer ob = Optimizers.adamW().build(sb)) {
            sa.setParameters("w", w);
            sb.setParameters("w", w);
            for (int step = 0; step < 3; step++) {
                float[] g = new float[n];
                for (int i = 0; i < n; i++) {
                    g[i] = (float) r.nextGaussian() * 0.1f;
                }
                sa.setGradients("w", g);
                sb.setGradients("w", g);
                oa.step();
                ob.step();
                String d = GoldenRunner.firstDifference(oa, ob);
                if (d != null) {
                    return "step " + (step + 1) + ": " + d;
                }
            }
            return null;
        }
    }

    @Test
    void theCommittedPtxAgreesWithTheCpu() throws IOException {
        StandIn.overrideModule(committedAdamPtx());
        assertNull(adamWDifference());
    }

    @Test
    void oneAlteredInstructionBreaksBitParity() throws IOException {
        String original = committedAdamPtx();
        String mutated = splitFirstFma(original);
        assertEquals(fmaCount(original) - 1, fmaCount(mutated), "exactly one fma replaced");
        StandIn.overrideModule(mutated);
        String d = adamWDifference();
        assertNotNull(d, "a split fma must change some result bit");
        assertTrue(d.contains("w"), d);
    }

    private static long fmaCount(String ptx) {
        return FMA.matcher(ptx).results().count();
    }
}
