package io.fusedopt.backend;

import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.List;

/**
 * The passes of one optimizer step, in order, written once for both backends. A backend executes a plan; it does
 * not decide which passes run or in which order.
 *
 * <p>The order: the finite check (when the policy checks), Lookahead's copy of the parameters into the slow weights
 * (at the first step), then the rule's own passes ({@link Rule#passes()}), the update carrying Lookahead's
 * synchronisation when the step is a synchronisation step. Every pass after the finite check does nothing when it
 * found a non-finite gradient, so a skipped step changes no buffer: the slow weights too stay as they were.
 */
public final class StepPlan {
    /** What one pass does. */
    public enum Kind {
        /** Sets the skip flag when any gradient element is NaN or infinite; reads g. */
        FINITE_CHECK,
        /** Copies the parameters into Lookahead's slow weights (the first step). */
        LOOKAHEAD_INIT,
        /** The rule's read-only norm pass into the per-chunk partials ({@link Rule.Pass#NORM}). */
        NORM,
        /** The rule's per-element update ({@link Rule.Pass#UPDATE} or {@link Rule.Pass#UPDATE_WITH_SUMS}). */
        UPDATE,
        /** The rule's per-tensor fold of the partials into the tensor state ({@link Rule.Pass#FINISH}). */
        FINISH,
        /** The rule's per-tensor row and column statistics ({@link Rule.Pass#FACTOR_STATS}). */
        FACTOR_STATS,
        /** The rule's per-tensor row and column scales ({@link Rule.Pass#FACTOR_SCALES}). */
        FACTOR_SCALES,
        /** The rule's element pass that prepares a whole-matrix transform ({@link Rule.Pass#ORTHO_PREPARE}). */
        ORTHO_PREPARE,
        /** The rule's per-tensor orthogonalisation ({@link Rule.Pass#ORTHOGONALIZE}). */
        ORTHOGONALIZE
    }

    /**
     * One pass.
     *
     * @param kind what it does
     * @param sums for {@link Kind#UPDATE}: whether it also sums into the partials
     * @param lookaheadSync for {@link Kind#UPDATE}: whether it also moves the slow weights
     */
    public record Pass(Kind kind, boolean sums, boolean lookaheadSync) {
    }

    private final List<Pass> passes;
    private final boolean checksFinite;

    private StepPlan(List<Pass> passes, boolean checksFinite) {
        this.passes = List.copyOf(passes);
        this.checksFinite = checksFinite;
    }

    /**
     * The plan of one step of {@code rule}.
     *
     * @param rule the rule
     * @param checkFinite whether the step is skipped when a gradient is not finite
     * @param lookaheadInit whether Lookahead's slow weights are set from the parameters first
     * @param lookaheadSync whether the update also synchronises Lookahead
     */
    public static StepPlan of(Rule rule, boolean checkFinite, boolean lookaheadInit, boolean lookaheadSync) {
        List<Pass> out = new ArrayList<>();
        if (checkFinite) {
            out.add(new Pass(Kind.FINITE_CHECK, false, false));
        }
        if (lookaheadInit) {
            out.add(new Pass(Kind.LOOKAHEAD_INIT, false, false));
        }
        for (Rule.Pass p : rule.passes()) {
            switch (p) {
                case NORM -> out.add(new Pass(Kind.NORM, false, false));
                case UPDATE -> out.add(new Pass(Kind.UPDATE, false, lookaheadSync));
                case UPDATE_WITH_SUMS -> out.add(new Pass(Kind.UPDATE, true, lookaheadSync));
                case FINISH -> out.add(new Pass(Kind.FINISH, false, false));
                case FACTOR_STATS -> out.add(new Pass(Kind.FACTOR_STATS, false, false));
                case FACTOR_SCALES -> out.add(new Pass(Kind.FACTOR_SCALES, false, false));
                case ORTHO_PREPARE -> out.add(new Pass(Kind.ORTHO_PREPARE, false, false));
                case ORTHOGONALIZE -> out.add(new Pass(Kind.ORTHOGONALIZE, false, false));
                default -> throw new AssertionError(p);
            }
        }
        return new StepPlan(out, checkFinite);
    }

    /** The passes, in order. */
    public List<Pass> passes() {
        return passes;
    }

    /** Whether the plan starts with the finite check. */
    public boolean checksFinite() {
        return checksFinite;
    }

    @Override
    public String toString() {
        return passes.toString();
    }
}
