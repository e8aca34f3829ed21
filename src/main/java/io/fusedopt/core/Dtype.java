package io.fusedopt.core;

import java.util.Locale;

/**
 * The storage type of one arena buffer. Per-element math is always float32: a 16-bit value widens to float32
 * exactly ({@link #widen}), and a float32 result is stored rounded to the nearest representable value, ties to
 * even ({@link #narrow}). {@code DtypeConversions} holds the bit arithmetic, written once for the CPU and mirrored
 * in {@code cuda/include/fusedopt/dtype.cuh}.
 */
public enum Dtype {
    /** IEEE binary32. */
    FLOAT32(4, "F32", "float32"),
    /** bfloat16: float32's sign and 8-bit exponent, 7 stored mantissa bits. */
    BFLOAT16(2, "BF16", "bfloat16"),
    /** IEEE binary16: 5-bit exponent, 10 stored mantissa bits, largest finite value 65504. */
    FLOAT16(2, "F16", "float16");

    private final int bytes;
    private final String safetensors;
    private final String label;

    Dtype(int bytes, String safetensors, String label) {
        this.bytes = bytes;
        this.safetensors = safetensors;
        this.label = label;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The safetensors header name ({@code F32}, {@code BF16}, {@code F16}). */
    public String safetensorsName() {
        return safetensors;
    }

    /** The name golden cases and messages use ({@code float32}, {@code bfloat16}, {@code float16}). */
    public String label() {
        return label;
    }

    /** The short name of kernel entries and the command line ({@code f32}, {@code bf16}, {@code fp16}). */
    public String shortName() {
        return switch (this) {
            case FLOAT32 -> "f32";
            case BFLOAT16 -> "bf16";
            case FLOAT16 -> "fp16";
        };
    }

    /** Whether values are stored in 16 bits. */
    public boolean isHalf() {
        return bytes == 2;
    }

    /** The float32 value of the 16-bit pattern {@code bits} (low 16 bits); exact. Rejects FLOAT32. */
    public float widen(int bits) {
        return switch (this) {
            case BFLOAT16 -> DtypeConversions.bf16ToFloat(bits);
            case FLOAT16 -> DtypeConversions.fp16ToFloat(bits);
            case FLOAT32 -> throw new UnsupportedOperationException("float32 is not a 16-bit type");
        };
    }

    /** {@code x} rounded to this 16-bit type, nearest with ties to even, as its bit pattern. Rejects FLOAT32. */
    public short narrow(float x) {
        return switch (this) {
            case BFLOAT16 -> DtypeConversions.floatToBf16(x);
            case FLOAT16 -> DtypeConversions.floatToFp16(x);
            case FLOAT32 -> throw new UnsupportedOperationException("float32 is not a 16-bit type");
        };
    }

    /** {@code x} rounded to this type and widened back: the value a buffer of this type stores for {@code x}. */
    public float round(float x) {
        return this == FLOAT32 ? x : widen(narrow(x));
    }

    /**
     * The dtype named {@code name}: {@code float32}/{@code f32}/{@code fp32}/{@code F32}, {@code bfloat16}/
     * {@code bf16}/{@code BF16}, {@code float16}/{@code fp16}/{@code f16}/{@code half}/{@code F16}.
     *
     * @throws IllegalArgumentException naming the value and the accepted names
     */
    public static Dtype parse(String name) {
        switch (name == null ? "" : name.toLowerCase(Locale.ROOT)) {
            case "float32", "f32", "fp32", "float":
                return FLOAT32;
            case "bfloat16", "bf16":
                return BFLOAT16;
            case "float16", "f16", "fp16", "half":
                return FLOAT16;
            default:
                throw new IllegalArgumentException("unknown dtype '" + name
                        + "': expected float32 (f32), bfloat16 (bf16) or float16 (fp16)");
        }
    }

    /** The dtype whose safetensors name is {@code name}, or null for any other. */
    public static Dtype ofSafetensors(String name) {
        for (Dtype d : values()) {
            if (d.safetensors.equals(name)) {
                return d;
            }
        }
        return null;
    }
}
