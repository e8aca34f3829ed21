package io.fusedopt.core;

/**
 * The float32 ↔ bfloat16 / float16 conversions, as bit arithmetic. {@code cuda/include/fusedopt/dtype.cuh} performs
 * the same integer operations, so both backends store the same bits:
 * <ul>
 *   <li>widening is exact; a 16-bit NaN keeps its sign and payload (shifted into the float32 mantissa);</li>
 *   <li>narrowing rounds to nearest, ties to even; values past the largest finite value round to infinity (for
 *       float16 every |x| ≥ 65520), subnormal results are kept, and every NaN becomes the canonical
 *       {@code 0x7FFF} (what the hardware's {@code cvt.rn} gives);</li>
 *   <li>stochastic rounding to bfloat16 ({@link #floatToBf16Stochastic}) adds 16 random bits below the kept
 *       mantissa and truncates, so it rounds up with probability equal to the dropped fraction.</li>
 * </ul>
 */
public final class DtypeConversions {
    /** The canonical NaN both narrowing conversions produce. */
    public static final short CANONICAL_NAN = 0x7FFF;

    private DtypeConversions() {
    }

    /** The float32 value of the bfloat16 pattern in the low 16 bits of {@code h}. */
    public static float bf16ToFloat(int h) {
        return Float.intBitsToFloat(h << 16);
    }

    /** {@code x} rounded to bfloat16, nearest with ties to even. */
    public static short floatToBf16(float x) {
        int b = Float.floatToRawIntBits(x);
        if ((b & 0x7FFFFFFF) > 0x7F800000) {
            return CANONICAL_NAN;
        }
        return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
    }

    /**
     * {@code x} rounded to bfloat16 stochastically: {@code random}'s low 16 bits are added below the kept mantissa
     * before truncation. NaN gives the canonical NaN; infinities stay; a finite value may round up to infinity
     * with the probability of its distance to the largest finite value.
     */
    public static short floatToBf16Stochastic(float x, int random) {
        int b = Float.floatToRawIntBits(x);
        int a = b & 0x7FFFFFFF;
        if (a > 0x7F800000) {
            return CANONICAL_NAN;
        }
        if (a == 0x7F800000) {
            return (short) (b >>> 16);
        }
        return (short) ((b + (random & 0xFFFF)) >>> 16);
    }

    /** The float32 value of the float16 pattern in the low 16 bits of {@code h}. */
    public static float fp16ToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int e = (h >>> 10) & 0x1F;
        int m = h & 0x3FF;
        if (e == 0) {
            // Zero or subnormal: m · 2^-24, exact in float32 (the product has at most 10 significant bits).
            float v = m * 0x1p-24f;
            return Float.intBitsToFloat(sign | Float.floatToRawIntBits(v));
        }
        if (e == 31) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (m << 13));
        }
        return Float.intBitsToFloat(sign | ((e + 112) << 23) | (m << 13));
    }

    /** {@code x} rounded to float16, nearest with ties to even. */
    public static short floatToFp16(float x) {
        int b = Float.floatToRawIntBits(x);
        int sign = (b >>> 16) & 0x8000;
        int a = b & 0x7FFFFFFF;
        if (a > 0x7F800000) {
            return CANONICAL_NAN;
        }
        if (a >= 0x477FF000) {
            // 65520 is halfway between 65504 (odd mantissa) and 65536: it and everything above round to infinity.
            return (short) (sign | 0x7C00);
        }
        if (a >= 0x38800000) {
            // Normal in float16 (>= 2^-14): rebias the exponent by 127 - 15, round off 13 mantissa bits.
            int r = a - 0x38000000;
            return (short) (sign | ((r + 0xFFF + ((r >>> 13) & 1)) >>> 13));
        }
        if (a <= 0x33000000) {
            // At most 2^-25, half the smallest subnormal: the tie goes to the even zero.
            return (short) sign;
        }
        // Subnormal in float16: the value in units of 2^-24 is the 24-bit significand shifted right by 126 - e.
        int e = a >>> 23;
        int m = (a & 0x7FFFFF) | 0x800000;
        int s = 126 - e;
        int q = m >>> s;
        int rem = m & ((1 << s) - 1);
        int half = 1 << (s - 1);
        if (rem > half || (rem == half && (q & 1) != 0)) {
            q++;
        }
        return (short) (sign | q);
    }
}
