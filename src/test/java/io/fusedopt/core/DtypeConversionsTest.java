package io.fusedopt.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The conversions against an independent reference: every 16-bit pattern widens exactly and narrows back to itself;
 * narrowing equals the nearest representable value (ties to even) found by exact decimal comparison, for every tie,
 * the floats next to every tie, float32 edge cases and random floats.
 */
class DtypeConversionsTest {
    private static final Dtype[] HALVES = {Dtype.BFLOAT16, Dtype.FLOAT16};

    /** Widening by value, from the definition of each format (not from the bit arithmetic under test). */
    private static double reference(Dtype d, int h) {
        int sign = (h & 0x8000) != 0 ? -1 : 1;
        int expBits = d == Dtype.BFLOAT16 ? 8 : 5;
        int manBits = 15 - expBits;
        int bias = (1 << (expBits - 1)) - 1;
        int e = (h >>> manBits) & ((1 << expBits) - 1);
        int m = h & ((1 << manBits) - 1);
        if (e == (1 << expBits) - 1) {
            return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (e == 0) {
            return sign * Math.scalb((double) m, 1 - bias - manBits);
        }
        return sign * Math.scalb((double) (m | (1 << manBits)), e - bias - manBits);
    }

    /** The nearest pattern to {@code x} by exact comparison, ties to the even pattern; overflow as IEEE says. */
    private static int nearest(Dtype d, float x) {
        if (Float.isNaN(x)) {
            return DtypeConversions.CANONICAL_NAN;
        }
        int sign = (Float.floatToRawIntBits(x) >>> 16) & 0x8000;
        double a = Math.abs((double) x);
        int maxFinite = d == Dtype.BFLOAT16 ? 0x7F7F : 0x7BFF;
        if (Double.isInfinite(a)) {
            return sign | (maxFinite + 1);
        }
        // Binary search over the non-negative finite patterns, which are ordered like their values.
        int lo = 0, hi = maxFinite;
        if (a >= reference(d, maxFinite)) {
            lo = maxFinite;
        } else {
            while (hi - lo > 1) {
                int mid = (lo + hi) >>> 1;
                if (reference(d, mid) <= a) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        int up = lo + 1; // for lo == maxFinite this is the infinity pattern, at the value the exponent would give
        double upValue = lo == maxFinite ? Math.scalb(1.0, d == Dtype.BFLOAT16 ? 128 : 16) : reference(d, up);
        BigDecimal v = new BigDecimal(a);
        int c = v.subtract(new BigDecimal(reference(d, lo))).compareTo(new BigDecimal(upValue).subtract(v));
        int pick = c < 0 ? lo : c > 0 ? up : ((lo & 1) == 0 ? lo : up);
        return sign | pick;
    }

    private static void check(Dtype d, float x) {
        int got = d.narrow(x) & 0xFFFF;
        int want = nearest(d, x);
        assertEquals(want, got, () -> d + " narrow(" + x + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(x))
                + ") = 0x" + Integer.toHexString(got) + ", expected 0x" + Integer.toHexString(want));
    }

    @Test
    void everyPatternWidensExactlyAndNarrowsBackToItself() {
        for (Dtype d : HALVES) {
            for (int h = 0; h < 1 << 16; h++) {
                float f = d.widen(h);
                double ref = reference(d, h);
                if (Double.isNaN(ref)) {
                    assertTrue(Float.isNaN(f), d + " 0x" + Integer.toHexString(h) + " is a NaN");
                    // The payload and sign travel into the float32 mantissa.
                    assertEquals(h & 0x8000, (Float.floatToRawIntBits(f) >>> 16) & 0x8000);
                    assertEquals(DtypeConversions.CANONICAL_NAN, d.narrow(f));
                    continue;
                }
                assertEquals(ref, (double) f, d + " widen 0x" + Integer.toHexString(h));
                assertEquals(Float.floatToRawIntBits((float) ref), Float.floatToRawIntBits(f),
                        d + " widen 0x" + Integer.toHexString(h) + " keeps the sign of zero");
                assertEquals(h, d.narrow(f) & 0xFFFF, d + " round trip of 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void everyTieAndItsNeighboursRoundToNearestEven() {
        for (Dtype d : HALVES) {
            int maxFinite = d == Dtype.BFLOAT16 ? 0x7F7F : 0x7BFF;
            for (int h = 0; h <= maxFinite; h++) {
                double next = h == maxFinite ? Math.scalb(1.0, d == Dtype.BFLOAT16 ? 128 : 16) : reference(d, h + 1);
                float mid = (float) ((reference(d, h) + next) / 2);
                for (float x : new float[] {mid, Math.nextUp(mid), Math.nextDown(mid)}) {
                    if (!Float.isInfinite(x)) {
                        check(d, x);
                        check(d, -x);
                    }
                }
            }
        }
    }

    @Test
    void float32EdgeCases() {
        float[] edges = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Math.nextDown(Float.MIN_NORMAL),
            Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1f, -1f, 65504f,
            65519.996f, 65520f, 65536f, -65520f, 0x1p-24f, 0x1p-25f, Math.nextUp(0x1p-25f), 0x1.8p-25f, 0x1p-14f,
            Math.nextDown(0x1p-14f), 3.3895314e38f, 1.0039062f, 1.0117188f};
        for (Dtype d : HALVES) {
            for (float x : edges) {
                check(d, x);
            }
            for (int nan : new int[] {0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF}) {
                assertEquals(DtypeConversions.CANONICAL_NAN, d.narrow(Float.intBitsToFloat(nan)));
            }
        }
        assertEquals((short) 0x7C00, Dtype.FLOAT16.narrow(65520f), "65520 overflows float16 to infinity");
        assertEquals((short) 0x7BFF, Dtype.FLOAT16.narrow(65519.996f));
        assertEquals((short) 0xFC00, Dtype.FLOAT16.narrow(-1e10f));
        assertEquals((short) 0x7F80, Dtype.BFLOAT16.narrow(Float.MAX_VALUE), "float32's largest rounds up to inf");
        assertEquals((short) 0x8000, Dtype.FLOAT16.narrow(-0x1p-25f), "the tie at half the smallest subnormal");
        assertEquals((short) 0x0001, Dtype.FLOAT16.narrow(Math.nextUp(0x1p-25f)));
    }

    @Test
    void randomFloatsMatchTheReference() {
        SplittableRandom r = new SplittableRandom(20261201);
        for (int i = 0; i < 200_000; i++) {
            float x = Float.intBitsToFloat(r.nextInt());
            float y = (float) (r.nextGaussian() * Math.scalb(1.0, r.nextInt(-30, 20)));
            for (Dtype d : HALVES) {
                check(d, x);
                check(d, y);
            }
        }
    }

    @Test
    void stochasticRoundingPicksOneOfTheTwoNeighbours() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) r.nextGaussian();
            int down = Float.floatToRawIntBits(x) >>> 16;
            int got = DtypeConversions.floatToBf16Stochastic(x, r.nextInt()) & 0xFFFF;
            assertTrue(got == down || got == down + 1, "neighbours of " + x);
            assertEquals(down, DtypeConversions.floatToBf16Stochastic(x, 0) & 0xFFFF, "zero noise truncates");
        }
        assertEquals((short) 0x7F80, DtypeConversions.floatToBf16Stochastic(Float.POSITIVE_INFINITY, -1));
        assertEquals(DtypeConversions.CANONICAL_NAN, DtypeConversions.floatToBf16Stochastic(Float.NaN, 5));
        float exact = Dtype.BFLOAT16.widen(0x3F81);
        assertEquals((short) 0x3F81, DtypeConversions.floatToBf16Stochastic(exact, 0xFFFF), "exact values stay");
    }

    @Test
    void namesParseAndFloat32IsNotHalf() {
        assertEquals(Dtype.BFLOAT16, Dtype.parse("bf16"));
        assertEquals(Dtype.FLOAT16, Dtype.parse("float16"));
        assertEquals(Dtype.FLOAT32, Dtype.parse("fp32"));
        assertEquals(Dtype.BFLOAT16, Dtype.ofSafetensors("BF16"));
        assertEquals(2, Dtype.FLOAT16.bytes());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Dtype.parse("int8"));
        assertTrue(e.getMessage().contains("int8"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> Dtype.FLOAT32.narrow(1f));
    }
}
