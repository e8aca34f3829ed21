package io.fusedopt.core;

/**
 * The counter-based generator of stochastic rounding, mirrored by {@code sr_bits} in
 * {@code cuda/include/fusedopt/dtype.cuh}: 32 bits from (seed, step, absolute arena index), with no state, so any
 * thread on any backend draws the same bits for an element.
 *
 * <pre>
 * z = seed ^ (step · 0x9E3779B97F4A7C15) ^ (index · 0xD1B54A32D192ED03)      (64-bit wrapping arithmetic)
 * z = (z ^ z >>> 33) · 0xFF51AFD7ED558CCD;  z = (z ^ z >>> 33) · 0xC4CEB9FE1A85EC53;  z ^= z >>> 33
 * bits = low 32 bits of z
 * </pre>
 * The two odd multipliers spread step and index over all 64 bits; the finaliser is MurmurHash3's 64-bit mix,
 * whose every output bit depends on every input bit.
 */
public final class DtypeStochastic {
    private DtypeStochastic() {
    }

    /** The 32 random bits of element {@code index} at step {@code step} under {@code seed}. */
    public static int bits(long seed, long step, long index) {
        long z = seed ^ (step * 0x9E3779B97F4A7C15L) ^ (index * 0xD1B54A32D192ED03L);
        z = (z ^ (z >>> 33)) * 0xFF51AFD7ED558CCDL;
        z = (z ^ (z >>> 33)) * 0xC4CEB9FE1A85EC53L;
        z ^= z >>> 33;
        return (int) z;
    }
}
