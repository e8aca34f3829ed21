package io.fusedopt.jmh;

/** Closes benchmark resources in order, skipping the ones a failed setup never made. */
final class Closing {
    private Closing() {
    }

    /** Closes each non-null resource in the given order; the first failure is rethrown after all are tried. */
    static void all(AutoCloseable... resources) {
        RuntimeException first = null;
        for (AutoCloseable r : resources) {
            if (r == null) {
                continue;
            }
            try {
                r.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
