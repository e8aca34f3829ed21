package io.fusedopt.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;

/**
 * The bundled UCI optical handwritten digits (1,797 samples of 8×8 pixels, integer intensities 0–16, and the
 * label), and the demo's fixed train/test split.
 *
 * <p>Data: "Optical Recognition of Handwritten Digits — E. Alpaydin, C. Kaynak, UCI Machine Learning Repository,
 * 1998, CC BY 4.0".
 */
public final class Digits {
    /** The classpath resource holding the samples, one CSV line each: 64 pixels, then the label. */
    public static final String RESOURCE = "/io/fusedopt/data/digits.csv.gz";
    /** The attribution the data's licence asks for. */
    public static final String ATTRIBUTION = "Optical Recognition of Handwritten Digits — E. Alpaydin, C. Kaynak, "
            + "UCI Machine Learning Repository, 1998, CC BY 4.0";
    /** The number of samples in the bundled file. */
    public static final int SAMPLES = 1797;
    /** The share of each class held out for testing. */
    public static final double TEST_FRACTION = 0.2;

    // The split has its own constant seed, not the demo's --seed: a different --seed then changes the
    // initialisation and the batch order but every run is still scored on the same held-out digits.
    private static final long SPLIT_SEED = 0x5EED_D161_75L;
    private static final int MAX_PIXEL = 16;

    private Digits() {
    }

    /** The training and the test part of the data. */
    public record Split(Dataset train, Dataset test) {
    }

    /**
     * Reads the bundled samples, pixels scaled from 0–16 to [0, 1].
     *
     * @throws IllegalStateException when the resource is missing or a line is not 64 integers in 0–16 and a
     *     label in 0–9 (a broken build, not a user error)
     */
    public static Dataset load() {
        try (InputStream raw = Digits.class.getResourceAsStream(RESOURCE)) {
            if (raw == null) {
                throw new IllegalStateException("resource " + RESOURCE + " is missing from the classpath");
            }
            return parse(new GZIPInputStream(raw));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** Parses the CSV form from {@code in} (not closed); rejects lines as {@link #load()} does. */
    static Dataset parse(InputStream in) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        List<float[]> rows = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        String line;
        int lineNo = 0;
        while ((line = reader.readLine()) != null) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            String[] cells = line.split(",", -1);
            if (cells.length != Dataset.FEATURES + 1) {
                throw new IllegalStateException(RESOURCE + " line " + lineNo + ": expected " + (Dataset.FEATURES + 1)
                        + " values, got " + cells.length);
            }
            float[] row = new float[Dataset.FEATURES];
            for (int j = 0; j < Dataset.FEATURES; j++) {
                row[j] = (float) cell(cells[j], 0, MAX_PIXEL, lineNo) / MAX_PIXEL;
            }
            rows.add(row);
            labels.add(cell(cells[Dataset.FEATURES], 0, Dataset.CLASSES - 1, lineNo));
        }
        float[] features = new float[rows.size() * Dataset.FEATURES];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i), 0, features, i * Dataset.FEATURES, Dataset.FEATURES);
        }
        return new Dataset(features, labels.stream().mapToInt(Integer::intValue).toArray());
    }

    private static int cell(String text, int min, int max, int lineNo) {
        int v;
        try {
            v = Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException(RESOURCE + " line " + lineNo + ": not an integer: '" + text + "'", e);
        }
        if (v < min || v > max) {
            throw new IllegalStateException(RESOURCE + " line " + lineNo + ": " + v + " is outside " + min + "–" + max);
        }
        return v;
    }

    /**
     * The fixed stratified split: from every class, {@link #TEST_FRACTION} of its samples (rounded) go to the test
     * set, chosen by a seeded shuffle that does not depend on anything else; both parts keep file order.
     */
    public static Split split(Dataset all) {
        Random random = new Random(SPLIT_SEED);
        List<Integer> train = new ArrayList<>();
        List<Integer> test = new ArrayList<>();
        for (int c = 0; c < Dataset.CLASSES; c++) {
            List<Integer> members = new ArrayList<>();
            for (int i = 0; i < all.size(); i++) {
                if (all.label(i) == c) {
                    members.add(i);
                }
            }
            // Our own Fisher–Yates rather than Collections.shuffle, whose use of the Random is not part of
            // its contract; the split must never change under a different JDK.
            for (int i = members.size() - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                Integer t = members.get(i);
                members.set(i, members.get(j));
                members.set(j, t);
            }
            int held = (int) Math.round(members.size() * TEST_FRACTION);
            test.addAll(members.subList(0, held));
            train.addAll(members.subList(held, members.size()));
        }
        int[] trainIdx = train.stream().mapToInt(Integer::intValue).toArray();
        int[] testIdx = test.stream().mapToInt(Integer::intValue).toArray();
        Arrays.sort(trainIdx);
        Arrays.sort(testIdx);
        return new Split(all.subset(trainIdx), all.subset(testIdx));
    }
}
