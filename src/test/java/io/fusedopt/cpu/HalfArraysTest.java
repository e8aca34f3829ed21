package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.DtypeConversions;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The array conversions the CPU backend widens and rounds chunks with, vector and scalar, against the element
 * conversions of {@link DtypeConversions} (themselves checked exhaustively in {@code DtypeConversionsTest}).
 */
class HalfArraysTest {
    private static final List<HalfArrays> BOTH = List.of(new VectorHalfArrays(), HalfArrays.scalar());
    /** Starts and lengths that put every lane position at a run's start and leave tails of every size. */
    private static final int[] STARTS = {0, 1, 7, 15, 16, 17};

    @Test
    void theTestJvmUsesTheVectorConversions() {
        // The build's test JVMs add jdk.incubator.vector, so the path the parity tests run is the vector one.
        assertInstanceOf(VectorHalfArrays.class, HalfArrays.get(), HalfArrays.get().describe());
        assertTrue(new VectorHalfArrays().usable(), "this machine's preferred vectors are under 256 bits");
    }

    @Test
    void wideningMatchesForEverySixteenBitPattern() {
        short[] all = new short[1 << 16];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) i;
        }
        for (Dtype d : new Dtype[] {Dtype.BFLOAT16, Dtype.FLOAT16}) {
            for (HalfArrays h : BOTH) {
                for (int start : STARTS) {
                    int n = all.length - start - 3;
                    float[] out = new float[n + 5];
                    h.widen(d, all, start, out, 2, n);
                    for (int i = 0; i < n; i++) {
                        short x = all[start + i];
                        float want = d == Dtype.BFLOAT16 ? DtypeConversions.bf16ToFloat(x) : DtypeConversions.fp16ToFloat(x);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[2 + i]),
                                () -> d + " " + h.describe() + " widening 0x" + Integer.toHexString(x & 0xFFFF));
                    }
                }
            }
        }
    }

    @Test
    void roundingMatchesOnEveryExponentAndTheBitsThatDecideARounding() {
        // Every sign/exponent/high-mantissa pattern (the high 16 bits) with the low halves that decide bfloat16's and
        // float16's rounding (below, at and above each half-way point, odd and even kept bits) and random ones.
        int[] lows = {0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2001, 0x2FFF, 0x3000, 0x3001,
            0x7FFF, 0x8000, 0x8001, 0x9000, 0xEFFF, 0xF000, 0xFFFF};
        SplittableRandom r = new SplittableRandom(20261201);
        int per = lows.length + 6;
        float[] x = new float[(1 << 16) * per];
        int k = 0;
        for (int hi = 0; hi < 1 << 16; hi++) {
            for (int lo : lows) {
                x[k++] = Float.intBitsToFloat(hi << 16 | lo);
            }
            for (int j = 0; j < 6; j++) {
                x[k++] = Float.intBitsToFloat(hi << 16 | r.nextInt(1 << 16));
            }
        }
        checkRounding(x);
    }

    @Test
    void roundingMatchesOnEveryFloatNearFloat16sSubnormalsAndOverflow() {
        // Every float32 from half the smallest float16 subnormal to past the smallest normal, and around 65520
        // (where float16 overflows to infinity), both signs: the ranges with their own code in each conversion.
        checkRange(0x33000000 - 64, 0x38800000 + 64);
        checkRange(0x477FF000 - (1 << 16), 0x477FF000 + (1 << 16));
        checkRange(0x7F800000 - 4096, 0x7F800000 + 4096);
    }

    private static void checkRange(int from, int to) {
        int block = 1 << 22;
        for (int b = from; b < to; b += block) {
            int n = Math.min(block, to - b);
            float[] x = new float[2 * n];
            for (int i = 0; i < n; i++) {
                x[2 * i] = Float.intBitsToFloat(b + i);
                x[2 * i + 1] = Float.intBitsToFloat((b + i) | 0x80000000);
            }
            checkRounding(x);
        }
    }

    private static void checkRounding(float[] x) {
        for (Dtype d : new Dtype[] {Dtype.BFLOAT16, Dtype.FLOAT16}) {
            short[] want = new short[x.length];
            for (int i = 0; i < x.length; i++) {
                want[i] = d == Dtype.BFLOAT16 ? DtypeConversions.floatToBf16(x[i]) : DtypeConversions.floatToFp16(x[i]);
            }
            for (HalfArrays h : BOTH) {
                for (int start : new int[] {0, 5}) {
                    int n = x.length - start - 1;
                    short[] out = new short[n + 3];
                    h.round(d, x, start, out, 3, n);
                    for (int i = 0; i < n; i++) {
                        if (out[3 + i] != want[start + i]) {
                            float v = x[start + i];
                            assertEquals(want[start + i], out[3 + i], () -> d + " " + h.describe() + " rounding 0x"
                                    + Integer.toHexString(Float.floatToRawIntBits(v)));
                        }
                    }
                }
            }
        }
    }

    @Test
    void theNonFiniteScanFindsOneInfinityOrNanAnywhere() {
        short[][] bad = {
            {(short) 0x7F80, (short) 0xFF80, (short) 0x7FC0, (short) 0x7F81}, // bfloat16 ±inf, NaNs
            {(short) 0x7C00, (short) 0xFC00, (short) 0x7E00, (short) 0x7C01}, // float16 ±inf, NaNs
        };
        Dtype[] dtypes = {Dtype.BFLOAT16, Dtype.FLOAT16};
        for (int di = 0; di < 2; di++) {
            Dtype d = dtypes[di];
            // The largest finite values and a pattern with all but one exponent bit set are finite.
            short finite = (short) (d == Dtype.BFLOAT16 ? 0x7F7F : 0x7BFF);
            for (HalfArrays h : BOTH) {
                for (int n : new int[] {1, 15, 16, 17, 70}) {
                    short[] a = new short[n + 4];
                    java.util.Arrays.fill(a, finite);
                    assertFalse(h.anyNonFinite(d, a, 2, n), () -> d + " " + h.describe() + " finite run of " + n);
                    for (int at = 0; at < n; at++) {
                        for (short b : bad[di]) {
                            a[2 + at] = b;
                            int where = at;
                            assertTrue(h.anyNonFinite(d, a, 2, n), () -> d + " " + h.describe() + " missed 0x"
                                    + Integer.toHexString(b & 0xFFFF) + " at " + where + " of " + n);
                            a[2 + at] = finite;
                        }
                    }
                    // Outside the run does not count.
                    a[0] = bad[di][0];
                    a[n + 3] = bad[di][0];
                    assertFalse(h.anyNonFinite(d, a, 2, n), () -> d + " " + h.describe() + " looked outside the run");
                }
            }
        }
    }
}
