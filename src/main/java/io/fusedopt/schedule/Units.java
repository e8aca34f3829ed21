package io.fusedopt.schedule;

/** Checks shared by the step-unit wrappers {@link PerBatch} and {@link PerEpoch}. */
final class Units {
    private Units() {
    }

    /**
     * Rejects a null schedule and one that is already re-expressed: re-expressing twice would
     * divide the step twice, which no caller means.
     */
    static void checkInner(Schedule inner) {
        Check.notNull("schedule", inner);
        if (inner instanceof PerBatch || inner instanceof PerEpoch) {
            throw Check.invalid("schedule", "in step units to be re-expressed", inner);
        }
    }
}
