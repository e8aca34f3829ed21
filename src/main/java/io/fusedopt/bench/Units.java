package io.fusedopt.bench;

/** Formatting of counts for reports. */
final class Units {
    private Units() {
    }

    /** {@code 64M}, {@code 16K} or the plain number, whichever is exact. */
    static String count(long n) {
        if (n >= (1 << 20) && n % (1 << 20) == 0) {
            return (n >> 20) + "M";
        }
        if (n >= (1 << 10) && n % (1 << 10) == 0) {
            return (n >> 10) + "K";
        }
        return Long.toString(n);
    }
}
