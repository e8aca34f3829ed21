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

    /** Checks one group's hyperparameters; the message names {@code groupName}, the field and the value. */
    protected abstract void validate(Hyper h, String groupName);

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

    /** {@code a} if it is larger or NaN, else {@code b}: the maximum the CUDA rules use ({@code fo_max}). */
    static float maxNan(float a, float b) {
        return (a > b || a != a) ? a : b;
    }

    /** {@code a} if it is smaller or NaN, else {@code b} ({@code fo_min}). */
    static float minNan(float a, float b) {
        return (a < b || a != a) ? a : b;
    }

    static String prefix(String group) {
        return group.isEmpty() ? "" : "group '" + group + "': ";
    }
}
