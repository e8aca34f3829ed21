package io.fusedopt.schedule;

/**
 * Argument checks shared by the schedules. Messages follow one pattern, {@code <argument> must
 * be <condition>, got <value>}, so a caller sees which argument was wrong and what was passed.
 */
final class Check {
    private Check() {
    }

    /**
     * An {@link IllegalArgumentException} that remembers which argument was rejected, so that
     * {@link Schedules#fromSpec} can name the spec key the argument came from.
     */
    static final class InvalidArgument extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final String argument;

        InvalidArgument(String argument, String message) {
            super(message);
            this.argument = argument;
        }

        /** The Java name of the rejected argument, e.g. {@code "tMax"}. */
        String argument() {
            return argument;
        }
    }

    static InvalidArgument invalid(String argument, String condition, Object got) {
        return new InvalidArgument(argument, argument + " must be " + condition + ", got " + got);
    }

    static long atLeast(String argument, long value, long min) {
        if (value < min) {
            throw invalid(argument, ">= " + min, value);
        }
        return value;
    }

    static double finitePositive(String argument, double value) {
        if (!(Double.isFinite(value) && value > 0)) {
            throw invalid(argument, "finite and > 0", value);
        }
        return value;
    }

    /** Returns the value with {@code -0.0} folded into {@code 0.0} so that equal specs give equal records. */
    static double finiteNonNegative(String argument, double value) {
        if (!(Double.isFinite(value) && value >= 0)) {
            throw invalid(argument, "finite and >= 0", value);
        }
        return value + 0.0;
    }

    static <T> T notNull(String argument, T value) {
        if (value == null) {
            throw invalid(argument, "non-null", null);
        }
        return value;
    }

    static void step(long step) {
        if (step < 0) {
            throw invalid("step", ">= 0", step);
        }
    }

    static double baseLr(double baseLr) {
        return finiteNonNegative("baseLr", baseLr);
    }
}
