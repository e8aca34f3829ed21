package io.fusedopt.demo;

import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The learning-rate schedules the demo compares. */
public enum ScheduleChoice {
    /** The base rate at every step. */
    CONSTANT("constant"),
    /**
     * SGDR: cosine annealing with warm restarts, stepped per batch with fractional epochs. Cycles double in length
     * from {@link #firstCycle(int)} epochs and anneal to 1% of the base rate.
     */
    SGDR("sgdr");

    /** The floor of the SGDR cosine as a share of the base rate. */
    public static final double SGDR_FLOOR = 0.01;

    private final String id;

    ScheduleChoice(String id) {
        this.id = id;
    }

    /** The command-line name. */
    public String id() {
        return id;
    }

    /**
     * The schedule for a run of {@code epochs} epochs of {@code stepsPerEpoch} steps at base rate {@code baseLr}.
     *
     * @throws IllegalArgumentException when {@code epochs} or {@code stepsPerEpoch} is below 1, or {@code baseLr}
     *     is negative or not finite
     */
    public Schedule build(int epochs, long stepsPerEpoch, double baseLr) {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        if (!(baseLr >= 0) || Double.isInfinite(baseLr)) {
            throw new IllegalArgumentException("baseLr must be finite and >= 0, got " + baseLr);
        }
        switch (this) {
            case CONSTANT:
                return Schedules.constant();
            case SGDR:
                // eta_min is absolute, so it is set per optimizer to keep every cosine spanning the same two
                // decades below its own base rate.
                return Schedules.sgdr(firstCycle(epochs), 2, baseLr * SGDR_FLOOR).perBatch(stepsPerEpoch);
            default:
                throw new AssertionError(this);
        }
    }

    /**
     * The first SGDR cycle's length in epochs: {@code max(1, epochs / 15)}, so that a run of 15·k epochs is
     * exactly four cycles (k, 2k, 4k, 8k) and ends at the bottom of the last cosine.
     */
    public static long firstCycle(int epochs) {
        return Math.max(1, epochs / 15);
    }

    /** The command-line names of all choices. */
    public static List<String> ids() {
        List<String> ids = new ArrayList<>();
        for (ScheduleChoice c : values()) {
            ids.add(c.id);
        }
        return ids;
    }

    /**
     * The choice with command-line name {@code id} (case-insensitive, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the known names, for anything else
     */
    public static ScheduleChoice named(String id) {
        String key = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
        for (ScheduleChoice c : values()) {
            if (c.id.equals(key)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown schedule '" + id + "'; known: " + String.join(", ", ids()));
    }
}
