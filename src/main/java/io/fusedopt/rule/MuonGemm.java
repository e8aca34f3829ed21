package io.fusedopt.rule;

/**
 * The matrix products of Muon's Newton–Schulz iteration in Java, in the fixed reduction order the CUDA kernel
 * {@code muon_ns_f32} uses, so the two agree bit for bit: every output element is
 * {@code acc = fma(L[i][k], R[k][j], acc)} for {@code k = 0, 1, ..., K-1} from {@code acc = +0}, then the epilogue
 * {@code out = fma(alpha, acc, beta * Y[i][j])} (or {@code alpha * acc} without {@code Y}). The loops are arranged
 * for the caches (four rows of the output at a time, the inner loop along a row of {@code R}); the order of the
 * terms of each output element is the one above.
 */
public final class MuonGemm {
    /** Rows of the output computed together: each row of R is then read once per four output rows. */
    private static final int ROWS = 4;

    private MuonGemm() {
    }

    /**
     * {@code out[i][j] = fma(alpha, Σ_k L[i][k] R[k][j], beta * Y[i][j])} for an {@code m × k} row-major {@code L} at
     * {@code lo}, a {@code k × n} row-major {@code R} at {@code ro}, and an {@code m × n} {@code Y} at {@code yo}
     * ({@code y} null: {@code alpha * acc}); {@code out} at {@code oo} may not overlap the inputs.
     */
    public static void multiply(float[] l, int lo, float[] r, int ro, int m, int n, int k, float[] y, int yo,
            float alpha, float beta, float[] out, int oo) {
        rows(l, lo, r, ro, 0, m, n, k, y, yo, alpha, beta, out, oo);
    }

    /** Rows of the output per part when the product runs on several threads. */
    static final int PART_ROWS = 32;

    /**
     * As {@link #multiply(float[], int, float[], int, int, int, int, float[], int, float, float, float[], int)}, the
     * output's rows split into parts of {@link #PART_ROWS} that run on the backend's threads ({@code t}): each
     * element's sum is the same whatever thread computes it.
     */
    static void multiply(Rule.TensorAccess t, float[] l, int lo, float[] r, int ro, int m, int n, int k, float[] y,
            int yo, float alpha, float beta, float[] out, int oo) {
        int parts = (m + PART_ROWS - 1) / PART_ROWS;
        t.parallel(parts, p -> rows(l, lo, r, ro, p * PART_ROWS, Math.min(m, (p + 1) * PART_ROWS), n, k, y, yo, alpha,
                beta, out, oo));
    }

    /** Output rows {@code [from, to)} of the product. */
    private static void rows(float[] l, int lo, float[] r, int ro, int from, int m, int n, int k, float[] y, int yo,
            float alpha, float beta, float[] out, int oo) {
        float[][] acc = new float[ROWS][n];
        for (int i0 = from; i0 < m; i0 += ROWS) {
            int rows = Math.min(ROWS, m - i0);
            for (int q = 0; q < rows; q++) {
                java.util.Arrays.fill(acc[q], 0f);
            }
            float[] c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3];
            for (int kk = 0; kk < k; kk++) {
                int rr = ro + kk * n;
                if (rows == ROWS) {
                    // One load of R[k][j] serves the four rows; each row's sum still takes its terms in k order.
                    int li = lo + i0 * k + kk;
                    float a0 = l[li], a1 = l[li + k], a2 = l[li + 2 * k], a3 = l[li + 3 * k];
                    for (int j = 0; j < n; j++) {
                        float rv = r[rr + j];
                        c0[j] = Math.fma(a0, rv, c0[j]);
                        c1[j] = Math.fma(a1, rv, c1[j]);
                        c2[j] = Math.fma(a2, rv, c2[j]);
                        c3[j] = Math.fma(a3, rv, c3[j]);
                    }
                } else {
                    for (int q = 0; q < rows; q++) {
                        float a = l[lo + (i0 + q) * k + kk];
                        float[] row = acc[q];
                        for (int j = 0; j < n; j++) {
                            row[j] = Math.fma(a, r[rr + j], row[j]);
                        }
                    }
                }
            }
            for (int q = 0; q < rows; q++) {
                float[] row = acc[q];
                int o = oo + (i0 + q) * n;
                if (y == null) {
                    for (int j = 0; j < n; j++) {
                        out[o + j] = alpha * row[j];
                    }
                } else {
                    int yy = yo + (i0 + q) * n;
                    for (int j = 0; j < n; j++) {
                        out[o + j] = Math.fma(alpha, row[j], beta * y[yy + j]);
                    }
                }
            }
        }
    }

    /**
     * {@code A = X Xᵀ} for an {@code r × c} row-major {@code X} at {@code xo} into {@code a} at {@code ao}: each
     * element {@code Σ_k X[i][k] X[j][k]} in increasing {@code k} (through the transpose of X in {@code tmp}, at
     * least {@code r c} floats).
     */
    public static void gram(float[] x, int xo, int r, int c, float[] tmp, float[] a, int ao) {
        transpose(x, xo, r, c, tmp);
        multiply(x, xo, tmp, 0, r, r, c, null, 0, 1f, 0f, a, ao);
    }

    /** As {@link #gram(float[], int, int, int, float[], float[], int)}, on the backend's threads. */
    static void gram(Rule.TensorAccess t, float[] x, int xo, int r, int c, float[] tmp, float[] a, int ao) {
        transpose(x, xo, r, c, tmp);
        multiply(t, x, xo, tmp, 0, r, r, c, null, 0, 1f, 0f, a, ao);
    }

    private static void transpose(float[] x, int xo, int r, int c, float[] tmp) {
        for (int i = 0; i < r; i++) {
            for (int k = 0; k < c; k++) {
                tmp[k * r + i] = x[xo + i * c + k];
            }
        }
    }
}
