package io.fusedopt.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ModelLayoutTest {
    @Test
    void gpt2SmallHas148TensorsAnd124439808Parameters() {
        ModelLayout l = ModelLayout.gpt2Small();
        assertEquals(148, l.tensorCount());
        assertEquals(124_439_808L, l.parameterCount());
        Set<String> names = new HashSet<>();
        l.entries().forEach(e -> names.add(e.name()));
        assertEquals(148, names.size(), "tensor names are unique");
        assertEquals(50257L * 768, l.entries().get(0).elements());
        assertEquals("ln_f.bias", l.entries().get(147).name());
    }

    @Test
    void singleTensorCountsBeyondTwoToThe31() {
        long n = (1L << 31) + 5;
        ModelLayout l = ModelLayout.single(n);
        assertEquals(1, l.tensorCount());
        assertEquals(n, l.parameterCount());
    }

    @Test
    void rejectsEmptyLayoutsAndUnknownModels() {
        assertThrows(IllegalArgumentException.class, () -> ModelLayout.single(0));
        assertThrows(IllegalArgumentException.class, () -> ModelLayout.named("gpt3"));
        assertEquals(148, ModelLayout.named("gpt2-small").tensorCount());
    }

    @Test
    void uniformLaysOutCountTensorsOfOneLength() {
        ModelLayout l = ModelLayout.uniform(10_000, 100);
        assertEquals(10_000, l.tensorCount());
        assertEquals(1_000_000L, l.parameterCount());
        assertEquals("t9999", l.entries().get(9999).name());
        assertEquals("10000x100", l.name());
        assertThrows(IllegalArgumentException.class, () -> ModelLayout.uniform(0, 100));
        assertThrows(IllegalArgumentException.class, () -> ModelLayout.uniform(3, 0));
    }
}
