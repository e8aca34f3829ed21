package io.fusedopt.property;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Random invalid arguments are rejected with an {@link IllegalArgumentException} whose message names the argument
 * as the Java builder calls it ({@code lr}, {@code beta1}, {@code eps}, {@code lookahead k} ...), whatever the rest
 * of the configuration, and whether the value is set on the default group or on a named group.
 */
class InvalidArgumentPropertyTest {
    private static final List<String> ADAPTIVE = List.of("adam", "adamw", "radam", "nadam", "adabelief", "adabound",
            "amsbound", "yogi", "lamb", "swats");
    private static final List<String> WITH_EPS = List.of("adam", "adamw", "radam", "nadam", "adabelief", "adabound",
            "amsbound", "yogi", "lamb", "swats", "adagrad");

    private static Device cpu;
    private static ParameterStore store;

    @BeforeContainer
    static void open() {
        cpu = Device.cpu();
        store = ParameterStore.builder().add("w", 3, 4).add("b", 4).add("c", 7).build(cpu);
    }

    @AfterContainer
    static void close() {
        store.close();
        cpu.close();
    }

    /** Negative, NaN or infinite: invalid wherever a finite value {@code >= 0} is required. */
    @Provide
    Arbitrary<Double> notNonNegative() {
        return Arbitraries.oneOf(Arbitraries.doubles().between(-1e6, true, 0.0, false),
                Arbitraries.of(-Double.MIN_VALUE, -1.0, -Double.MAX_VALUE, Double.NaN, Double.POSITIVE_INFINITY,
                        Double.NEGATIVE_INFINITY));
    }

    /** Zero or less, NaN or infinite: invalid where a finite value {@code > 0} is required. */
    @Provide
    Arbitrary<Double> notPositive() {
        return Arbitraries.oneOf(Arbitraries.doubles().between(-1e6, 0),
                Arbitraries.of(0.0, -0.0, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY));
    }

    /** Outside [0, 1). */
    @Provide
    Arbitrary<Double> outsideUnitInterval() {
        return Arbitraries.oneOf(Arbitraries.doubles().between(-10.0, true, 0.0, false),
                Arbitraries.doubles().between(1, 10),
                Arbitraries.of(1.0, Math.nextDown(0.0), Double.NaN, Double.POSITIVE_INFINITY,
                        Double.NEGATIVE_INFINITY));
    }

    /** Outside (0, 1]. */
    @Provide
    Arbitrary<Double> outsideHalfOpenUnit() {
        return Arbitraries.oneOf(Arbitraries.doubles().between(-10, 0),
                Arbitraries.doubles().between(1.0, false, 10.0, true),
                Arbitraries.of(0.0, Math.nextUp(1.0), Double.NaN, Double.POSITIVE_INFINITY));
    }

    @Provide
    Arbitrary<String> rules() {
        return Arbitraries.of(RandomOptimizers.RULES);
    }

    /** The algorithms with a {@code weight_decay} (Adafactor's decay is {@code weight_decay_rate}). */
    @Provide
    Arbitrary<String> withWeightDecay() {
        return Arbitraries.of(RandomOptimizers.RULES.stream()
                .filter(n -> io.fusedopt.rule.Algorithms.named(n).param("weight_decay") != null).toList());
    }

    @Provide
    Arbitrary<String> adaptive() {
        return Arbitraries.of(ADAPTIVE);
    }

    @Provide
    Arbitrary<String> withEps() {
        return Arbitraries.of(WITH_EPS);
    }

    /** A random valid builder of {@code rule}, changed by {@code change} either on the default group or a group. */
    private static void assertRejected(String rule, long seed, boolean inGroup, Consumer<OptimizerBuilder<?>> change,
            String argument) {
        OptimizerBuilder<?> b = RandomOptimizers.builder(rule, new SplittableRandom(seed));
        if (inGroup) {
            groupWith(b, change);
        } else {
            change.accept(b);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.build(store));
        assertTrue(e.getMessage().contains(argument), () -> "message must name '" + argument + "': " + e.getMessage());
        if (inGroup) {
            assertTrue(e.getMessage().contains("group 'g'"), () -> "message must name the group: " + e.getMessage());
        }
    }

    private static <B extends OptimizerBuilder<B>> void groupWith(OptimizerBuilder<B> b,
            Consumer<OptimizerBuilder<?>> change) {
        b.group("g", change::accept, "b");
    }

    @Property(tries = 80)
    void learningRate(@ForAll("rules") String rule, @ForAll("notNonNegative") double lr, @ForAll long seed,
            @ForAll boolean inGroup) {
        assertRejected(rule, seed, inGroup, b -> b.lr(lr), "lr");
    }

    @Property(tries = 80)
    void weightDecay(@ForAll("withWeightDecay") String rule, @ForAll("notNonNegative") double wd, @ForAll long seed,
            @ForAll boolean inGroup) {
        assertRejected(rule, seed, inGroup, b -> b.weightDecay(wd), "weightDecay");
    }

    @Property(tries = 80)
    void beta1(@ForAll("adaptive") String rule, @ForAll("outsideUnitInterval") double beta1, @ForAll long seed,
            @ForAll boolean inGroup) {
        assertRejected(rule, seed, inGroup, b -> ((Optimizers.AdaptiveBuilder<?>) b).betas(beta1, 0.999), "beta1");
    }

    @Property(tries = 80)
    void beta2(@ForAll("adaptive") String rule, @ForAll("outsideUnitInterval") double beta2, @ForAll long seed,
            @ForAll boolean inGroup) {
        assertRejected(rule, seed, inGroup, b -> ((Optimizers.AdaptiveBuilder<?>) b).betas(0.9, beta2), "beta2");
    }

    @Property(tries = 80)
    void eps(@ForAll("withEps") String rule, @ForAll("notPositive") double eps, @ForAll long seed,
            @ForAll boolean inGroup) {
        assertRejected(rule, seed, inGroup, b -> {
            if (b instanceof Optimizers.AdagradBuilder a) {
                a.eps(eps);
            } else {
                ((Optimizers.AdaptiveBuilder<?>) b).eps(eps);
            }
        }, "eps");
    }

    @Property(tries = 60)
    void momentum(@ForAll boolean decoupled, @ForAll("outsideUnitInterval") double momentum, @ForAll long seed,
            @ForAll boolean inGroup) {
        Assume.that(!(momentum == 0));
        assertRejected(decoupled ? "sgdw" : "sgd", seed, inGroup,
                b -> ((Optimizers.SgdBuilder) b).momentum(momentum), "momentum");
    }

    @Property(tries = 60)
    void lookaheadK(@ForAll("rules") String rule, @ForAll @IntRange(min = -1000, max = 0) int k, @ForAll long seed) {
        assertRejected(rule, seed, false, b -> b.lookahead(k, 0.5), "lookahead k");
    }

    @Property(tries = 60)
    void lookaheadAlpha(@ForAll("rules") String rule, @ForAll("outsideHalfOpenUnit") double alpha,
            @ForAll @IntRange(min = 1, max = 10) int k, @ForAll long seed) {
        assertRejected(rule, seed, false, b -> b.lookahead(k, alpha), "lookahead alpha");
    }

    @Provide
    Arbitrary<String> unknownNames() {
        return Arbitraries.strings().ofMinLength(1).ofMaxLength(12).filter(n -> !List.of("w", "b", "c").contains(n));
    }

    @Property(tries = 50)
    void unknownTensorNames(@ForAll("unknownNames") String name, @ForAll("rules") String rule, @ForAll long seed) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> store.setGradients(name, new float[4]));
        assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> store.setParameters(name, new float[4]));
        assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
        OptimizerBuilder<?> b = RandomOptimizers.builder(rule, new SplittableRandom(seed));
        groupNamed(b, name);
        e = assertThrows(IllegalArgumentException.class, () -> b.build(store));
        assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
    }

    private static <B extends OptimizerBuilder<B>> void groupNamed(OptimizerBuilder<B> b, String tensor) {
        b.group("g", g -> { }, tensor);
    }

    @Property(tries = 50)
    void wrongGradientLengths(@ForAll @IntRange(min = 0, max = 100) int length, @ForAll boolean parameters) {
        Assume.that(length != 12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            if (parameters) {
                store.setParameters("w", new float[length]);
            } else {
                store.setGradients("w", new float[length]);
            }
        });
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains(length + " elements")
                && e.getMessage().contains("expected 12"), e.getMessage());
    }

    @Property(tries = 50)
    void duplicateTensorNames(@ForAll("unknownNames") String name, @ForAll @IntRange(min = 0, max = 3) int others) {
        ParameterStore.Builder b = ParameterStore.builder().add(name, 2);
        for (int i = 0; i < others; i++) {
            b.add(name + "_" + i, 3);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.add(name, 5));
        assertTrue(e.getMessage().contains("duplicate tensor name '" + name + "'"), e.getMessage());
    }
}
