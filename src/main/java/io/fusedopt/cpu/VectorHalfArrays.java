package io.fusedopt.cpu;

import io.fusedopt.core.Dtype;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.S2I;

/**
 * {@link HalfArrays} on the incubating Vector API: the integer operations of {@link io.fusedopt.core.DtypeConversions}
 * lane by lane, so the bits are the same, with the float32 lanes as wide as the machine's preferred vectors and the
 * 16-bit lanes half that. Loaded by name only when the JVM resolved {@code jdk.incubator.vector}; each run's tail
 * that fills no whole vector goes through the scalar loops.
 */
final class VectorHalfArrays extends HalfArrays {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Short> SCAN = ShortVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    @Override
    boolean usable() {
        // Below 256-bit vectors the conversions gain little over the scalar loops.
        return F.vectorBitSize() >= 256 && I.length() == L && S.length() == L;
    }

    @Override
    String describe() {
        return "vector lanes (" + F.vectorBitSize() + "-bit float32, jdk.incubator.vector)";
    }

    /** One vector of 16-bit patterns from {@code h[at..)}, sign-extended to int lanes. */
    private static IntVector ints(short[] h, int at) {
        return (IntVector) ShortVector.fromArray(S, h, at).convertShape(S2I, I, 0);
    }

    /** The bits of one vector of floats from {@code f[at..)}. */
    private static IntVector bits(float[] f, int at) {
        return FloatVector.fromArray(F, f, at).reinterpretAsInts();
    }

    @Override
    void widenBf16(short[] h, int o, float[] dst, int from, int n) {
        int up = F.loopBound(n);
        for (int i = 0; i < up; i += L) {
            IntVector x = ints(h, o + i);
            // The sign extension of S2I is shifted out.
            x.lanewise(LSHL, 16).reinterpretAsFloats().intoArray(dst, from + i);
        }
        super.widenBf16(h, o + up, dst, from + up, n - up);
    }

    @Override
    void roundBf16(float[] src, int from, short[] h, int o, int n) {
        int up = F.loopBound(n);
        for (int i = 0; i < up; i += L) {
            IntVector x = bits(src, from + i);
            IntVector r = x.add(x.lanewise(LSHR, 16).and(1)).add(0x7FFF).lanewise(LSHR, 16);
            VectorMask<Integer> nan = x.and(0x7FFFFFFF).compare(GT, 0x7F800000);
            ((ShortVector) r.blend(0x7FFF, nan).convertShape(I2S, S, 0)).intoArray(h, o + i);
        }
        super.roundBf16(src, from + up, h, o + up, n - up);
    }

    @Override
    void widenFp16(short[] h, int o, float[] dst, int from, int n) {
        int up = F.loopBound(n);
        for (int i = 0; i < up; i += L) {
            IntVector x = ints(h, o + i);
            IntVector a = x.and(0x7FFF);
            IntVector shifted = a.lanewise(LSHL, 13);
            // Normal halves: exponent and mantissa in float32's places, the exponent rebiased by 127 - 15.
            IntVector v = shifted.add(0x38000000);
            // Zero and subnormal halves are m · 2^-24: the integer converts exactly and the product is a normal
            // float32. No lane ever holds a float32 subnormal, which would cost a microcode assist per vector on x86.
            v = v.blend(((FloatVector) a.convert(I2F, 0)).mul(0x1p-24f).reinterpretAsInts(), a.compare(LT, 0x400));
            // Infinity and NaN keep their mantissa under an all-ones exponent.
            v = v.blend(shifted.or(0x7F800000), a.compare(GE, 0x7C00));
            v.or(x.and(0x8000).lanewise(LSHL, 16)).reinterpretAsFloats().intoArray(dst, from + i);
        }
        super.widenFp16(h, o + up, dst, from + up, n - up);
    }

    @Override
    void roundFp16(float[] src, int from, short[] h, int o, int n) {
        int up = F.loopBound(n);
        for (int i = 0; i < up; i += L) {
            FloatVector f = FloatVector.fromArray(F, src, from + i);
            IntVector x = f.reinterpretAsInts();
            IntVector a = x.and(0x7FFFFFFF);
            // Normal halves: rebias the exponent and round off 13 mantissa bits, ties to even.
            IntVector r = a.sub(0x38000000);
            IntVector q = r.add(r.lanewise(LSHR, 13).and(1)).add(0xFFF).lanewise(LSHR, 13);
            // Below 2^-14 the half is subnormal, in units of 2^-24: adding 0.5 (whose ulp is 2^-24) rounds |x| to
            // that unit, to nearest even, in the float32 adder; the result's low bits are the half's.
            // |x| is taken in the float lanes (its bits are a's): with the int lanes reinterpreted as floats for the
            // add, C2 left vectors boxed in some compilations, allocating per element and running several times slower.
            IntVector sub = f.abs().add(0.5f).reinterpretAsInts().sub(0x3F000000);
            q = q.blend(sub, a.compare(LT, 0x38800000));
            q = q.blend(0x7C00, a.compare(GE, 0x477FF000));
            q = q.or(x.lanewise(LSHR, 16).and(0x8000));
            q = q.blend(0x7FFF, a.compare(GT, 0x7F800000));
            ((ShortVector) q.convertShape(I2S, S, 0)).intoArray(h, o + i);
        }
        super.roundFp16(src, from + up, h, o + up, n - up);
    }

    @Override
    boolean anyNonFinite(Dtype dtype, short[] h, int o, int n) {
        short mask = (short) exponentMask(dtype);
        int up = SCAN.loopBound(n);
        for (int i = 0; i < up; i += SCAN.length()) {
            if (ShortVector.fromArray(SCAN, h, o + i).and(mask).compare(EQ, mask)
                    .anyTrue()) {
                return true;
            }
        }
        return super.anyNonFinite(dtype, h, o + up, n - up);
    }
}
