package io.fusedopt.rule;

import java.util.List;

/** A rule whose groups each carry a {@link Hyper}. */
abstract class GroupedRule extends Rule {
    /** Per-group hyperparameters, in group order. */
    protected final List<Hyper> groups;

    GroupedRule(List<Hyper> groups, List<String> groupNames) {
        if (groups.isEmpty()) {
            throw new IllegalArgumentException("a rule needs at least one parameter group");
        }
        if (groupNames.size() != groups.size()) {
            throw new IllegalArgumentException(groupNames.size() + " group names for " + groups.size() + " groups");
        }
        this.groups = List.copyOf(groups);
        for (int i = 0; i < groups.size(); i++) {
            validate(groups.get(i), groupNames.get(i));
        }
    }

    /**
     * Checks one group's hyperparameters; the message names {@code groupName}, the field and the value. By default
     * the Adam family's: lr, weight decay, both betas and eps; rules with other fields override it.
     */
    protected void validate(Hyper h, String groupName) {
        h.validate(groupName, true, true, false);
    }

    @Override
    public int groupCount() {
        return groups.size();
    }

    @Override
    public double baseLr(int group) {
        return groups.get(group).lr();
    }

    /** The hyperparameters of {@code group}. */
    public Hyper hyper(int group) {
        return groups.get(group);
    }

    /**
     * Indices of the scalar head shared by the Adam-family rules (Adam, RAdam, NAdam, AdaBelief, AdaBound, LAMB,
     * SWATS): {@code [β1, 1-β1, β2, 1-β2, ε, λ]}, written by {@link #momentHead}; each rule's own scalars follow
     * from index 6. The CUDA rules read the same head with {@code Moments::load} ({@code fusedopt/moments.cuh}).
     */
    static final class Moments {
        static final int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5;

        private Moments() {
        }
    }

    /**
     * Writes the {@link Moments} head of {@code h} at {@code out[off .. off + 6)}: each value computed in double and
     * cast once. {@code wd} is the L2 coefficient the update reads, 0 for a rule that decays decoupled.
     */
    static void momentHead(Hyper h, float wd, float[] out, int off) {
        out[off + Moments.B1] = (float) h.beta1();
        out[off + Moments.OMB1] = (float) (1.0 - h.beta1());
        out[off + Moments.B2] = (float) h.beta2();
        out[off + Moments.OMB2] = (float) (1.0 - h.beta2());
        out[off + Moments.EPS] = (float) h.eps();
        out[off + Moments.WD] = wd;
    }

    static String prefix(String group) {
        return group.isEmpty() ? "" : "group '" + group + "': ";
    }
}
