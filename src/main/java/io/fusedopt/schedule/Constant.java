package io.fusedopt.schedule;

import java.util.Map;

/** No schedule: {@code lr = baseLr} at every step. */
record Constant() implements EpochSchedule {
    static final String TYPE = "constant";

    /** Returns {@code baseLr}; rejects a negative or non-finite base. */
    @Override
    public double at(long num, long den, double baseLr) {
        return Check.baseLr(baseLr);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE);
    }
}
