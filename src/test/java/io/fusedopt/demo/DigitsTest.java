package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The bundled digits load completely and the split is fixed, stratified and disjoint. */
class DigitsTest {
    @Test
    void loadsEverySampleWithScaledPixelsAndDigitLabels() {
        Dataset all = Digits.load();
        assertEquals(Digits.SAMPLES, all.size());
        int[] perClass = new int[Dataset.CLASSES];
        boolean sawOne = false;
        for (int i = 0; i < all.size(); i++) {
            float[] row = all.row(i);
            assertEquals(Dataset.FEATURES, row.length);
            for (float v : row) {
                assertTrue(v >= 0f && v <= 1f, "pixel " + v + " of sample " + i + " is outside [0, 1]");
                sawOne |= v == 1f;
            }
            perClass[all.label(i)]++;
        }
        assertTrue(sawOne, "the brightest pixel value 16 should scale to exactly 1");
        // The class sizes of the UCI test set, as bundled with scikit-learn.
        assertArrayEquals(new int[] {178, 182, 177, 183, 181, 182, 181, 179, 174, 180}, perClass);
        // First line of the file: 0,0,5,13,9,1,0,0,... label 0.
        assertEquals(0, all.label(0));
        assertEquals(5f / 16, all.row(0)[2]);
        assertEquals(13f / 16, all.row(0)[3]);
    }

    @Test
    void splitIsFixedStratifiedAndDisjoint() {
        Dataset all = Digits.load();
        Digits.Split a = Digits.split(all);
        Digits.Split b = Digits.split(Digits.load());
        assertEquals(1438, a.train().size());
        assertEquals(359, a.test().size());
        assertArrayEquals(a.test().labels(), b.test().labels());
        for (int i = 0; i < a.test().size(); i++) {
            assertArrayEquals(a.test().row(i), b.test().row(i), "test sample " + i + " differs between two splits");
        }
        int[] testPerClass = new int[Dataset.CLASSES];
        for (int y : a.test().labels()) {
            testPerClass[y]++;
        }
        // round(0.2 × class size) for the class sizes above.
        assertArrayEquals(new int[] {36, 36, 35, 37, 36, 36, 36, 36, 35, 36}, testPerClass);

        // Every sample lands in exactly one part; rows are unique enough in this data to check by content.
        Set<String> train = new HashSet<>();
        for (int i = 0; i < a.train().size(); i++) {
            train.add(java.util.Arrays.toString(a.train().row(i)) + a.train().label(i));
        }
        Set<String> everything = new HashSet<>();
        for (int i = 0; i < all.size(); i++) {
            everything.add(java.util.Arrays.toString(all.row(i)) + all.label(i));
        }
        int overlap = 0;
        for (int i = 0; i < a.test().size(); i++) {
            if (train.contains(java.util.Arrays.toString(a.test().row(i)) + a.test().label(i))) {
                overlap++;
            }
        }
        Set<String> union = new HashSet<>(train);
        for (int i = 0; i < a.test().size(); i++) {
            union.add(java.util.Arrays.toString(a.test().row(i)) + a.test().label(i));
        }
        assertEquals(everything, union);
        assertTrue(overlap <= duplicatesIn(all), "test samples also in the training part: " + overlap);
    }

    /** Identical (pixels, label) rows in the file, which a split cannot keep apart. */
    private static int duplicatesIn(Dataset all) {
        Set<String> seen = new HashSet<>();
        int duplicates = 0;
        for (int i = 0; i < all.size(); i++) {
            if (!seen.add(java.util.Arrays.toString(all.row(i)) + all.label(i))) {
                duplicates++;
            }
        }
        return duplicates;
    }
}
