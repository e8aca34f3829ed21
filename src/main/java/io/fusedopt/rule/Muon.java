package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.rule.HyperParam.Range;
import java.util.List;
import java.util.Map;

/**
 * Muon (Jordan et al. 2024), as {@code optax.contrib.muon}: momentum, then the Newton–Schulz orthogonalisation of
 * each 2-D update, scaled by the matrix's shape; every other tensor takes an AdamW step in the same optimizer.
 *
 * <pre>
 * 2-D tensor [fan_in, fan_out]:
 *   μ = (1-β) g + β μ
 *   M = β μ / (1 - β^(t+1)) + (1-β) g / (1 - β^t)    (nesterov),   else  μ / (1 - β^t)
 *   X = M, transposed if fan_in &gt; fan_out;   X = X / (‖X‖_F + eps)
 *   ns_steps times:  A = X Xᵀ;  B = b A + c A A;  X = a X + B X
 *   O = X, transposed back
 *   s = sqrt(max(1, fan_out / fan_in)),   or sqrt(max(fan_in, fan_out)) · consistent_rms when that is &gt; 0
 *   w = w - η (s O + λ w)
 * other tensors (AdamW, sharing eps, the Nesterov flag and η):
 *   m = (1-b1) g + b1 m;   v = (1-b2) g² + b2 v
 *   M = b1 m / (1 - b1^(t+1)) + (1-b1) g / (1 - b1^t)   (nesterov),   else  m / (1 - b1^t)
 *   w = w - η (M / (sqrt(v / (1 - b2^t) + adam_eps_root) + eps) + adam_weight_decay · w)
 * </pre>
 *
 * <p><b>State.</b> Slot {@code exp_avg} holds μ (2-D) or m; slot {@code exp_avg_sq} is shaped per tensor: v for the
 * AdamW tensors, nothing for the matrices. Per tensor one double: {@code ‖M‖_F + eps}. The step scratch of a matrix
 * ({@code r = min(fan_in, fan_out)}, {@code c = max}) holds X and its next iterate Y ({@code r × c} each) and A
 * and B ({@code r × r} each).
 *
 * <p><b>Passes and operation order.</b>
 * <ol>
 *   <li>Prepare ({@link Rule.Pass#ORTHO_PREPARE}), matrices only: {@code μ = fma(β, μ, (1-β) * g)};
 *       {@code M = fma(k_μ, μ, k_g * g)} (nesterov) or {@code μ * k_μ}; {@code X[idx] = M}; lane A
 *       {@code fma(M, M, ·)} in the order of {@link Reduce}. Finish: {@code ‖M‖ + eps = sqrt(ΣM²) + eps} in double.</li>
 *   <li>Orthogonalise ({@link Rule.Pass#ORTHOGONALIZE}): {@code X = X / (float) (‖M‖ + eps)}; then per iteration
 *       the three products of {@link MuonGemm}, in its fixed order: {@code A = X Xᵀ};
 *       {@code B = fma(c, (A A), b * A)}; {@code Y = fma(1, (B X), a * X)}; X and Y swap.</li>
 *   <li>Update: matrices {@code u = fma(λ, w, s * O)}, {@code w = fma(-η, u, w)}; other tensors
 *       {@code m, v} as {@link Moments}, {@code M = fma(k_m, m, k_g * g)} (nesterov) or {@code m * k_m},
 *       {@code u = M / ((float) sqrt(v / bc2 + eps_root) + eps)}, {@code u = fma(λ_adam, w, u)},
 *       {@code w = fma(-η, u, w)}.</li>
 * </ol>
 * The default products are the deterministic ones above on both backends; {@code cublas=true} runs them through
 * cuBLAS on CUDA instead: faster, but cuBLAS sums in its own order, so that path is not bit-identical to the CPU
 * (it agrees with the deterministic one within {@link #CUBLAS_TOLERANCE} per unit of {@code η s}).
 */
public final class Muon extends Rule {
    static final int BETA = 0, OMB = 1, K_MU = 2, K_G = 3, NESTEROV = 4, CA = 5, CB = 6, CC = 7, LR = 8, WD = 9,
            B1 = 10, OMB1 = 11, B2 = 12, OMB2 = 13, KA_M = 14, KA_G = 15, BC2 = 16, EPS_ROOT = 17, EPS = 18,
            AWD = 19, K = 20;

    // Geometry, after Rule's shared indices 0 .. 4.
    /** Geometry: 1 for a matrix that takes the Newton–Schulz path. */
    public static final int ORTHO = 5;
    /** Geometry: the matrix's first and second dimension. */
    public static final int FAN_IN = 6, FAN_OUT = 7;
    /** Geometry: 1 when X is the transpose of the matrix (fan_in &gt; fan_out). */
    public static final int TRANSPOSED = 8;
    /** Geometry: rows and columns of X. */
    public static final int ROWS = 9, COLS = 10;
    /** Geometry: the shape factor s, as the bits of a double. */
    public static final int SCALE = 11;
    /** Geometry: elements of the tensor. */
    public static final int N = 12;
    /** Geometry: where the orthogonalised matrix lies in the scratch after the step's iterations ({@link #resultAt}). */
    public static final int RESULT = 13;
    static final int WIDTH = 14;
    /** Output tiles of the CUDA products are {@code GEMM_TILE × GEMM_TILE} ({@code MUON_TILE} in muon.cuh). */
    public static final int GEMM_TILE = 16;
    /** Columns of a job row of {@link #nsJobs}: group, rows, columns, scratch offset, tensor, first tile per stage. */
    public static final int JOB_WIDTH = 9;
    /** Newton–Schulz stages: normalise, A = X Xᵀ, B = b A + c A A, Y = a X + B X. */
    public static final int STAGES = 4;

    /**
     * How far the cuBLAS path may stray from the deterministic one, per element of the weights and per unit of
     * {@code η s} summed over the steps: the float32 noise of Newton–Schulz on different summation orders (about
     * 2e-6 on entries of at most 1, amplified by up to {@code a} per iteration), with margin; the golden muon cases
     * allow 1e-4.
     */
    public static final double CUBLAS_TOLERANCE = 1e-4;

    /**
     * Muon: lr 0.02, beta 0.95, the quintic coefficients (3.4445, -4.775, 2.0315) with 5 steps, eps 1e-8, no decay,
     * Nesterov, AdamW fallback betas (0.9, 0.999), eps_root 0, no fallback decay, no consistent-RMS scaling, the
     * deterministic products.
     */
    public static final Algorithm ALGORITHM = Algorithm.builder("muon", "muon")
            .title("Muon: Newton–Schulz orthogonalised momentum (AdamW for non-matrices)")
            .reference("Jordan et al. 2024")
            .params(Params.lr(0.02),
                    HyperParam.number("beta", "beta", 0.95, Range.UNIT),
                    HyperParam.numbers("ns_coeffs", List.of("nsA", "nsB", "nsC"), List.of(3.4445, -4.775, 2.0315),
                            Range.FINITE),
                    HyperParam.number("ns_steps", "nsSteps", 5, Range.COUNT).asStructural(),
                    HyperParam.number("eps", "eps", 1e-8, Range.POSITIVE),
                    Params.weightDecay(0.0),
                    HyperParam.flag("nesterov", "nesterov", true, false),
                    HyperParam.numbers("adam_betas", List.of("adamBeta1", "adamBeta2"), List.of(0.9, 0.999),
                            Range.UNIT),
                    HyperParam.number("adam_eps_root", "adamEpsRoot", 0.0, Range.NON_NEGATIVE),
                    HyperParam.number("adam_weight_decay", "adamWeightDecay", 0.0, Range.NON_NEGATIVE),
                    HyperParam.number("consistent_rms", "consistentRms", 0.0, Range.NON_NEGATIVE).withNullAs(0.0),
                    HyperParam.flag("cublas", "cublas", false, true))
            // On a matrix: prepare reads g, μ and writes μ, X (16); update reads w, X and writes w (12). The
            // Newton–Schulz products work in the scratch: 2 r c (r + c) + ... flops, counted by bench in flops.
            .variant("muon", Map.of(), 28)
            .demo("Muon", 0.02, false)
            .factory(Muon::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(double beta, double a, double b, double c, double eps, double weightDecay, boolean nesterov,
            double b1, double b2, double epsRoot, double adamWeightDecay, double consistentRms) {
    }

    private final List<Hyper> hp;
    private final int nsSteps;
    private final boolean cublas;

    /** Creates the rule over validated values. */
    public Muon(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper(v.number("beta"), v.number("ns_coeffs", 0),
                v.number("ns_coeffs", 1), v.number("ns_coeffs", 2), v.number("eps"), v.number("weight_decay"),
                v.flag("nesterov"), v.number("adam_betas", 0), v.number("adam_betas", 1), v.number("adam_eps_root"),
                v.number("adam_weight_decay"), v.number("consistent_rms"))).toList();
        this.nsSteps = (int) groups.get(0).number("ns_steps");
        this.cublas = groups.get(0).flag("cublas");
    }

    /** Newton–Schulz iterations per step. */
    public int nsSteps() {
        return nsSteps;
    }

    /** Whether the products run through cuBLAS on CUDA (not bit-exact; see the class comment). */
    public boolean cublas() {
        return cublas;
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_sq");
    }

    /** A matrix touches μ (prepare) and w (update); counted for the matrices, which hold most parameters. */
    @Override
    public int slotsTouched() {
        return 0;
    }

    @Override
    public boolean slotShaped(int slot) {
        return slot == 1;
    }

    @Override
    public SlotDomain slotDomain(int slot) {
        return slot == 1 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public long[] slotShape(int slot, long[] shape, int group) {
        return slot == 1 && shape.length == 2 ? new long[] {0} : shape.clone();
    }

    /** Whether a tensor of {@code shape} takes the Newton–Schulz path: every 2-D tensor does. */
    public static boolean orthogonalized(long[] shape) {
        return shape.length == 2;
    }

    @Override
    public long scratchLength(long[] shape, int group) {
        if (!orthogonalized(shape)) {
            return 0;
        }
        long r = Math.min(shape[0], shape[1]), c = Math.max(shape[0], shape[1]);
        return 2 * r * c + 2 * r * r;
    }

    @Override
    public int tensorGeometryWidth() {
        return WIDTH;
    }

    @Override
    public long[] tensorGeometry(long[] shape, int group) {
        long[] g = new long[WIDTH];
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        g[N] = n;
        if (!orthogonalized(shape)) {
            return g;
        }
        long fi = shape[0], fo = shape[1];
        g[ORTHO] = 1;
        g[FAN_IN] = fi;
        g[FAN_OUT] = fo;
        g[TRANSPOSED] = fi > fo ? 1 : 0;
        g[ROWS] = Math.min(fi, fo);
        g[COLS] = Math.max(fi, fo);
        double rms = hp.get(group).consistentRms();
        double s = rms > 0 ? Math.sqrt((double) Math.max(fi, fo)) * rms
                : Math.sqrt(Math.max(1.0, (double) fo / (double) fi));
        g[SCALE] = Double.doubleToRawLongBits(s);
        g[RESULT] = resultAt(g, nsSteps);
        return g;
    }

    /** Tiles of stage {@code stage} for an {@code r × c} X (see {@link #nsJobs}). */
    static long tiles(int stage, long r, long c) {
        long tr = (r + GEMM_TILE - 1) / GEMM_TILE, tc = (c + GEMM_TILE - 1) / GEMM_TILE;
        return switch (stage) {
            case 0 -> (r * c + LaunchConfig.BLOCK - 1) / LaunchConfig.BLOCK;
            case 3 -> tr * tc;
            default -> tr * tr;
        };
    }

    /**
     * The job table of the CUDA Newton–Schulz launches over a step program's geometry ({@link #tensorGeometry}
     * rows, {@code width} longs each) and tensor groups: one row of {@link #JOB_WIDTH} longs per matrix, then
     * {@link #STAGES} more longs, the total tiles of each stage.
     */
    public static long[] nsJobs(long[] geometry, int width, int[] groups) {
        java.util.List<long[]> rows = new java.util.ArrayList<>();
        long[] first = new long[STAGES];
        for (int t = 0; t < groups.length; t++) {
            long[] g = java.util.Arrays.copyOfRange(geometry, t * width, (t + 1) * width);
            if (g[ORTHO] == 0) {
                continue;
            }
            long[] row = new long[JOB_WIDTH];
            row[0] = groups[t];
            row[1] = g[ROWS];
            row[2] = g[COLS];
            row[3] = g[GEOMETRY_SCRATCH_OFFSET];
            row[4] = t;
            for (int s = 0; s < STAGES; s++) {
                row[5 + s] = first[s];
                first[s] += tiles(s, g[ROWS], g[COLS]);
            }
            rows.add(row);
        }
        long[] out = new long[rows.size() * JOB_WIDTH + STAGES];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i), 0, out, i * JOB_WIDTH, JOB_WIDTH);
        }
        System.arraycopy(first, 0, out, rows.size() * JOB_WIDTH, STAGES);
        return out;
    }

    /** Where X, Y, A and B start in a matrix's scratch: 0, r c, 2 r c, 2 r c + r². */
    public static long[] scratchParts(long[] g) {
        long r = g[ROWS], c = g[COLS];
        return new long[] {0, r * c, 2 * r * c, 2 * r * c + r * r};
    }

    /** Where the orthogonalised matrix lies in the scratch after {@code steps} iterations: X, or Y for odd steps. */
    public static long resultAt(long[] g, int steps) {
        return steps % 2 == 0 ? 0 : g[ROWS] * g[COLS];
    }

    @Override
    public List<Pass> passes() {
        return List.of(Pass.ORTHO_PREPARE, Pass.FINISH, Pass.ORTHOGONALIZE, Pass.UPDATE);
    }

    /** The prepare pass sums per chunk, so the step needs the partials. */
    @Override
    public Reduction reduction() {
        return Reduction.BEFORE_UPDATE;
    }

    @Override
    public int tensorStateWidth() {
        return 1;
    }

    @Override
    public double[] tensorStateInit(int group) {
        return new double[] {1.0};
    }

    @Override
    public String invalidTensorState(double[] ts, int off) {
        return ts[off] < 0 ? "the norm is " + ts[off] + ", below 0" : null;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        double bc = biasCorrection(h.beta(), t), bcNext = biasCorrection(h.beta(), t + 1);
        out[off + BETA] = (float) h.beta();
        out[off + OMB] = (float) (1.0 - h.beta());
        out[off + K_MU] = (float) (h.nesterov() ? h.beta() / bcNext : 1.0 / bc);
        out[off + K_G] = (float) (h.nesterov() ? (1.0 - h.beta()) / bc : 0.0);
        out[off + NESTEROV] = h.nesterov() ? 1f : 0f;
        out[off + CA] = (float) h.a();
        out[off + CB] = (float) h.b();
        out[off + CC] = (float) h.c();
        out[off + LR] = (float) lr;
        out[off + WD] = (float) h.weightDecay();
        double bc1 = biasCorrection(h.b1(), t), bc1Next = biasCorrection(h.b1(), t + 1);
        out[off + B1] = (float) h.b1();
        out[off + OMB1] = (float) (1.0 - h.b1());
        out[off + B2] = (float) h.b2();
        out[off + OMB2] = (float) (1.0 - h.b2());
        out[off + KA_M] = (float) (h.nesterov() ? h.b1() / bc1Next : 1.0 / bc1);
        out[off + KA_G] = (float) (h.nesterov() ? (1.0 - h.b1()) / bc1 : 0.0);
        out[off + BC2] = (float) biasCorrection(h.b2(), t);
        out[off + EPS_ROOT] = (float) h.epsRoot();
        out[off + EPS] = (float) h.eps();
        out[off + AWD] = (float) h.adamWeightDecay();
    }

    @Override
    public int finishScalarCount() {
        return 1;
    }

    @Override
    public void finishScalars(int group, long t, double lr, double[] out, int off) {
        out[off] = hp.get(group).eps();
    }

    @Override
    public void finishTensor(double sumA, double sumB, double[] fs, int fo, double[] ts, int off) {
        ts[off] = Math.sqrt(sumA) + fs[fo];
    }

    // ---- prepare ----

    /** The index in X of element {@code e} of the matrix: {@code e}, or its transposed position. */
    static long xIndex(long[] g, long e) {
        if (g[TRANSPOSED] == 0) {
            return e;
        }
        long i = e / g[FAN_OUT], j = e % g[FAN_OUT];
        return j * g[FAN_IN] + i;
    }

    @Override
    public void prepareChunk(Chunk c, float[] sc, int so) {
        long[] geo = c.geometry;
        if (geo[ORTHO] == 0) {
            return;
        }
        final float beta = sc[so + BETA], omb = sc[so + OMB], kmu = sc[so + K_MU], kg = sc[so + K_G];
        final boolean nesterov = sc[so + NESTEROV] != 0f;
        final float[] g = c.g, mu = c.s[0], x = c.scratch, la = c.laneA;
        for (int i = c.from; i < c.to; i++) {
            float mi = Math.fma(beta, mu[i], omb * g[i]);
            mu[i] = mi;
            float m = nesterov ? Math.fma(kmu, mi, kg * g[i]) : mi * kmu;
            x[(int) xIndex(geo, c.start + (i - c.from))] = m;
            int l = (i - c.from) % LaunchConfig.LANES;
            la[l] = Math.fma(m, m, la[l]);
        }
    }

    // ---- orthogonalise ----

    @Override
    public void tensorPass(Pass pass, TensorAccess t, float[] sc, int so, double[] fs, int fo) {
        if (pass != Pass.ORTHOGONALIZE) {
            throw new UnsupportedOperationException("muon has no per-tensor pass " + pass);
        }
        long[] geo = t.geometry();
        if (geo[ORTHO] == 0) {
            return;
        }
        float[] s = t.scratch();
        int r = (int) geo[ROWS], c = (int) geo[COLS];
        long[] p = scratchParts(geo);
        int xo = (int) p[0], yo = (int) p[1], ao = (int) p[2], bo = (int) p[3];
        float denom = (float) t.tensorState(0);
        for (int i = 0; i < r * c; i++) {
            s[xo + i] = s[xo + i] / denom;
        }
        float a = sc[so + CA], b = sc[so + CB], cc = sc[so + CC];
        float[] tmp = new float[r * c];
        for (int it = 0; it < nsSteps; it++) {
            MuonGemm.gram(t, s, xo, r, c, tmp, s, ao);
            MuonGemm.multiply(t, s, ao, s, ao, r, r, r, s, ao, cc, b, s, bo);
            MuonGemm.multiply(t, s, bo, s, xo, r, c, r, s, xo, 1f, a, s, yo);
            int swap = xo;
            xo = yo;
            yo = swap;
        }
    }

    // ---- update ----

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        long[] geo = c.geometry;
        final float lr = sc[so + LR];
        final float[] w = c.w, g = c.g;
        if (geo[ORTHO] != 0) {
            final float wd = sc[so + WD], sf = (float) Double.longBitsToDouble(geo[SCALE]);
            final float[] x = c.scratch;
            final long res = geo[RESULT];
            for (int i = c.from; i < c.to; i++) {
                float o = x[(int) (res + xIndex(geo, c.start + (i - c.from)))];
                float u = Math.fma(wd, w[i], sf * o);
                w[i] = Math.fma(-lr, u, w[i]);
            }
            return;
        }
        final float b1 = sc[so + B1], omb1 = sc[so + OMB1], b2 = sc[so + B2], omb2 = sc[so + OMB2];
        final float kam = sc[so + KA_M], kag = sc[so + KA_G], bc2 = sc[so + BC2], epsRoot = sc[so + EPS_ROOT];
        final float eps = sc[so + EPS], awd = sc[so + AWD];
        final boolean nesterov = sc[so + NESTEROV] != 0f;
        final float[] m = c.s[0], v = c.s[1];
        final int vOff = c.sFrom[1] - c.from;
        for (int i = c.from; i < c.to; i++) {
            float gi = g[i], wi = w[i];
            float mi = Moments.first(m[i], gi, b1, omb1);
            float vi = Moments.second(v[vOff + i], gi, b2, omb2);
            m[i] = mi;
            v[vOff + i] = vi;
            float mm = nesterov ? Math.fma(kam, mi, kag * gi) : mi * kam;
            float u = mm / ((float) Math.sqrt(vi / bc2 + epsRoot) + eps);
            u = Math.fma(awd, wi, u);
            w[i] = Math.fma(-lr, u, wi);
        }
    }

    @Override
    public String kernelFamily() {
        return "muon";
    }
}
