package io.fusedopt.cpu;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.DtypeConversions;

/**
 * Moves runs of elements between 16-bit storage arrays and float32 arrays with the conversions of
 * {@link DtypeConversions}: the CPU backend's widening before a pass and rounding after it.
 *
 * <p>C2 does not vectorise a loop that reinterprets bits ({@code Float.intBitsToFloat} and
 * {@code floatToRawIntBits} stop its superword pass on Java 17 to 25), so the scalar loops cost 0.4–0.6 ns per
 * widened and 1–2 ns per rounded element, more than the memory traffic of a step. When the JVM was started with
 * {@code --add-modules jdk.incubator.vector}, the same integer operations run on whole vectors
 * ({@code VectorHalfArrays}); otherwise, or with {@code -Dfusedopt.cpu.vector=false}, the scalar loops here do. Both
 * give the same bits ({@code HalfArraysTest} holds them against {@link DtypeConversions}).
 */
class HalfArrays {
    HalfArrays() {
    }

    /** The implementation this JVM uses, chosen once. */
    static HalfArrays get() {
        return Chosen.IT;
    }

    /** A holder, so that creating a subclass (which initialises this class) does not run the choice. */
    private static final class Chosen {
        static final HalfArrays IT = choose();
    }

    /** The scalar implementation, whatever the JVM offers. */
    static HalfArrays scalar() {
        return new HalfArrays();
    }

    private static HalfArrays choose() {
        if (!Boolean.parseBoolean(System.getProperty("fusedopt.cpu.vector", "true"))
                || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return scalar();
        }
        try {
            // By name, so that without the module no class referring to it is ever loaded.
            HalfArrays v = (HalfArrays) Class.forName("io.fusedopt.cpu.VectorHalfArrays")
                    .getDeclaredConstructor().newInstance();
            return v.usable() ? v : scalar();
        } catch (ReflectiveOperationException | LinkageError e) {
            return scalar();
        }
    }

    /** Whether this implementation should be used on this machine. */
    boolean usable() {
        return true;
    }

    /** What converts, for {@code info} and benchmark reports. */
    String describe() {
        return "scalar loops (start the JVM with --add-modules jdk.incubator.vector for vector conversions)";
    }

    /** Widens {@code h[o..o+n)}, stored as {@code dtype}, into {@code dst[from..from+n)}. */
    final void widen(Dtype dtype, short[] h, int o, float[] dst, int from, int n) {
        switch (dtype) {
            case BFLOAT16 -> widenBf16(h, o, dst, from, n);
            case FLOAT16 -> widenFp16(h, o, dst, from, n);
            default -> throw new IllegalArgumentException("not a 16-bit dtype: " + dtype);
        }
    }

    /** Rounds {@code src[from..from+n)} to nearest even into {@code h[o..o+n)}, stored as {@code dtype}. */
    final void round(Dtype dtype, float[] src, int from, short[] h, int o, int n) {
        switch (dtype) {
            case BFLOAT16 -> roundBf16(src, from, h, o, n);
            case FLOAT16 -> roundFp16(src, from, h, o, n);
            default -> throw new IllegalArgumentException("not a 16-bit dtype: " + dtype);
        }
    }

    /** Whether any of {@code h[o..o+n)}, stored as {@code dtype}, is an infinity or a NaN. */
    boolean anyNonFinite(Dtype dtype, short[] h, int o, int n) {
        int mask = exponentMask(dtype);
        for (int i = o; i < o + n; i++) {
            if ((h[i] & mask) == mask) {
                return true;
            }
        }
        return false;
    }

    /** The exponent bits of a 16-bit dtype: all set means infinity or NaN. */
    static int exponentMask(Dtype dtype) {
        return switch (dtype) {
            case BFLOAT16 -> 0x7F80;
            case FLOAT16 -> 0x7C00;
            default -> throw new IllegalArgumentException("not a 16-bit dtype: " + dtype);
        };
    }

    void widenBf16(short[] h, int o, float[] dst, int from, int n) {
        for (int i = 0; i < n; i++) {
            dst[from + i] = DtypeConversions.bf16ToFloat(h[o + i]);
        }
    }

    void roundBf16(float[] src, int from, short[] h, int o, int n) {
        for (int i = 0; i < n; i++) {
            h[o + i] = DtypeConversions.floatToBf16(src[from + i]);
        }
    }

    void widenFp16(short[] h, int o, float[] dst, int from, int n) {
        for (int i = 0; i < n; i++) {
            dst[from + i] = DtypeConversions.fp16ToFloat(h[o + i]);
        }
    }

    void roundFp16(float[] src, int from, short[] h, int o, int n) {
        for (int i = 0; i < n; i++) {
            h[o + i] = DtypeConversions.floatToFp16(src[from + i]);
        }
    }
}
