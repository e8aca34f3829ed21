package io.fusedopt.emu;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasMath;
import jcuda.jcublas.cublasOperation;
import jcuda.jcublas.cublasPointerMode;
import jcuda.runtime.cudaStream_t;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Drives the cuBLAS stand-in ({@code target/cuda-emu/libcublas.so.12}, built from {@code native-build/emu/cublas})
 * through JCublas2 and the JCuda driver API. Runs only in the {@code cuda-emu} surefire execution.
 *
 * <p>Results are compared with Java references that sum in the same order as the stand-in (k ascending, in float),
 * but with a small relative tolerance: cuBLAS documents no summation order and may use FMA, so a test that demanded
 * bit equality would pin an implementation detail that the real library does not share, and would fail on a GPU.
 */
@Tag("cuda-emu")
class CublasStandInTest {

    private static final int SUCCESS = 0;
    private static final int NOT_INITIALIZED = 1;
    private static final int INVALID_VALUE = 7;
    private static final int EXECUTION_FAILED = 13;
    private static final int NOT_SUPPORTED = 15;
    private static final int N = cublasOperation.CUBLAS_OP_N;
    private static final int T = cublasOperation.CUBLAS_OP_T;

    private static CUdevice device;

    private CUcontext ctx;
    private cublasHandle handle;
    private final Random random = new Random(20261129);

    @BeforeAll
    static void requireStandIn() {
        if (System.getProperty("fusedopt.emu.dir") != null) {
            assertTrue(StandIn.active(), StandIn::inactiveReason);
        } else {
            assumeTrue(StandIn.active(), "CUDA stand-in not active: " + StandIn.inactiveReason());
        }
        JCudaDriver.setExceptionsEnabled(false);
        JCublas2.setExceptionsEnabled(false);
        assertEquals(CUresult.CUDA_SUCCESS, cuInit(0));
        device = new CUdevice();
        assertEquals(CUresult.CUDA_SUCCESS, cuDeviceGet(device, 0));
    }

    @BeforeEach
    void setUp() {
        ctx = new CUcontext();
        assertEquals(CUresult.CUDA_SUCCESS, cuCtxCreate(ctx, 0, device));
        handle = new cublasHandle();
        ok(JCublas2.cublasCreate(handle));
    }

    @AfterEach
    void tearDown() {
        if (handle != null) {
            ok(JCublas2.cublasDestroy(handle));
        }
        assertEquals(CUresult.CUDA_SUCCESS, cuCtxDestroy(ctx));
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static void ok(int status) {
        expect(SUCCESS, status);
    }

    private static void expect(int expected, int status) {
        assertEquals(expected, status, () -> "cuBLAS status " + status + "; stand-in said: " + StandIn.lastError());
    }

    private static CUdeviceptr upload(float[] data) {
        CUdeviceptr p = new CUdeviceptr();
        assertEquals(CUresult.CUDA_SUCCESS, cuMemAlloc(p, 4L * data.length));
        assertEquals(CUresult.CUDA_SUCCESS, cuMemcpyHtoD(p, Pointer.to(data), 4L * data.length));
        return p;
    }

    /** A fresh allocation: every word is a float NaN until written (see the README). */
    private static CUdeviceptr nanBuffer(int floats) {
        CUdeviceptr p = new CUdeviceptr();
        assertEquals(CUresult.CUDA_SUCCESS, cuMemAlloc(p, 4L * floats));
        return p;
    }

    private static float[] download(CUdeviceptr p, int n) {
        float[] out = new float[n];
        assertEquals(CUresult.CUDA_SUCCESS, cuMemcpyDtoH(Pointer.to(out), p, 4L * n));
        return out;
    }

    private static Pointer f(float v) {
        return Pointer.to(new float[] {v});
    }

    private float[] randomFloats(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = random.nextFloat() * 4 - 2;
        }
        return a;
    }

    /** |actual - expected| within 1e-5 of the magnitude the result was summed from (cuBLAS's order is free). */
    private static void assertClose(float expected, float actual, double magnitude, String what) {
        double tolerance = 1e-5 * Math.max(magnitude, Math.abs(expected)) + 1e-30;
        assertTrue(Math.abs((double) expected - actual) <= tolerance,
                () -> what + ": expected " + expected + " but was " + actual + " (tolerance " + tolerance + ")");
    }

    // ---- gemm ----------------------------------------------------------------------------------------------------

    /** Column-major op(X)(row, col) of a matrix stored with leading dimension ld. */
    private static float op(float[] x, int ld, boolean transposed, int row, int col) {
        return transposed ? x[col + row * ld] : x[row + col * ld];
    }

    @Test
    void sgemmMatchesReferenceForEveryTransposeCombination() {
        int m = 5;
        int n = 3;
        int k = 7;
        float alpha = 1.5f;
        float beta = -0.75f;
        for (int ta : new int[] {N, T, cublasOperation.CUBLAS_OP_C}) {
            for (int tb : new int[] {N, T, cublasOperation.CUBLAS_OP_C}) {
                boolean at = ta != N;
                boolean bt = tb != N;
                int lda = (at ? k : m) + 2;  // padded leading dimensions
                int ldb = (bt ? n : k) + 1;
                int ldc = m + 3;
                float[] a = randomFloats(lda * (at ? m : k));
                float[] b = randomFloats(ldb * (bt ? k : n));
                float[] c = randomFloats(ldc * n);
                CUdeviceptr da = upload(a);
                CUdeviceptr db = upload(b);
                CUdeviceptr dc = upload(c);
                StandIn.resetCounters();
                ok(JCublas2.cublasSgemm(handle, ta, tb, m, n, k, f(alpha), da, lda, db, ldb, f(beta), dc, ldc));
                assertEquals(1, StandIn.count("cublasSgemm_v2"));
                assertEquals(1, StandIn.countCategory("cublas"));
                float[] got = download(dc, c.length);
                String combo = "transa=" + ta + " transb=" + tb;
                for (int j = 0; j < n; j++) {
                    for (int i = 0; i < ldc; i++) {
                        int idx = i + j * ldc;
                        if (i >= m) {
                            assertEquals(c[idx], got[idx], combo + ": padding of C was written at " + idx);
                            continue;
                        }
                        float sum = 0;
                        double magnitude = 0;
                        for (int l = 0; l < k; l++) {
                            float x = op(a, lda, at, i, l);
                            float y = op(b, ldb, bt, l, j);
                            sum += x * y;
                            magnitude += Math.abs((double) x * y);
                        }
                        float expected = alpha * sum + beta * c[idx];
                        assertClose(expected, got[idx], Math.abs(alpha) * magnitude + Math.abs(beta * c[idx]),
                                combo + " C(" + i + "," + j + ")");
                    }
                }
            }
        }
    }

    @Test
    void sgemmWithBetaZeroNeverReadsC() {
        int m = 3;
        int n = 5;
        int k = 1;
        float[] a = randomFloats(m * k);
        float[] b = randomFloats(k * n);
        CUdeviceptr dc = nanBuffer(m * n);  // NaN * 0 would be NaN: C must not be read
        ok(JCublas2.cublasSgemm(handle, N, N, m, n, k, f(2f), upload(a), m, upload(b), k, f(0f), dc, m));
        float[] got = download(dc, m * n);
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                assertEquals(2f * (a[i] * b[j]), got[i + j * m], 1e-6f, "C(" + i + "," + j + ")");
            }
        }
    }

    @Test
    void sgemmWithAlphaZeroOrKZeroOnlyScalesC() {
        float[] c = randomFloats(6);
        CUdeviceptr dc = upload(c);
        CUdeviceptr nan = nanBuffer(64);  // A and B must not be read either
        ok(JCublas2.cublasSgemm(handle, N, N, 2, 3, 4, f(0f), nan, 2, nan, 4, f(2f), dc, 2));
        ok(JCublas2.cublasSgemm(handle, N, T, 2, 3, 0, f(1f), nan, 2, nan, 3, f(0.5f), dc, 2));
        float[] got = download(dc, 6);
        for (int i = 0; i < 6; i++) {
            assertEquals(c[i] * 2f * 0.5f, got[i], 0f);
        }
    }

    @Test
    void devicePointerModeReadsScalarsFromDeviceMemory() {
        int[] mode = {-1};
        ok(JCublas2.cublasGetPointerMode(handle, mode));
        assertEquals(cublasPointerMode.CUBLAS_POINTER_MODE_HOST, mode[0]);
        ok(JCublas2.cublasSetPointerMode(handle, cublasPointerMode.CUBLAS_POINTER_MODE_DEVICE));
        ok(JCublas2.cublasGetPointerMode(handle, mode));
        assertEquals(cublasPointerMode.CUBLAS_POINTER_MODE_DEVICE, mode[0]);

        CUdeviceptr scalars = upload(new float[] {3f, 0.5f});  // alpha, beta
        CUdeviceptr alpha = scalars;
        CUdeviceptr beta = scalars.withByteOffset(4);
        float[] a = {1, 2, 3, 4};  // 2 x 2
        float[] b = {5, 6, 7, 8};
        float[] c = {1, 1, 1, 1};
        CUdeviceptr dc = upload(c);
        ok(JCublas2.cublasSgemm(handle, N, N, 2, 2, 2, alpha, upload(a), 2, upload(b), 2, beta, dc, 2));
        float[] got = download(dc, 4);
        float[] expected = new float[4];
        for (int j = 0; j < 2; j++) {
            for (int i = 0; i < 2; i++) {
                expected[i + 2 * j] = 3f * (a[i] * b[2 * j] + a[i + 2] * b[1 + 2 * j]) + 0.5f * c[i + 2 * j];
            }
        }
        assertArrayEquals(expected, got, 1e-5f);

        CUdeviceptr x = upload(new float[] {1, 2, 3});
        CUdeviceptr result = nanBuffer(1);
        ok(JCublas2.cublasSdot(handle, 3, x, 1, x, 1, result));
        assertEquals(14f, download(result, 1)[0]);
        ok(JCublas2.cublasSnrm2(handle, 3, x, 1, result));
        assertEquals((float) Math.sqrt(14), download(result, 1)[0], 1e-6f);

        // In device mode a scalar outside device memory fails as a kernel would, without touching anything.
        expect(EXECUTION_FAILED, JCublas2.cublasSscal(handle, 3, f(2f), x, 1));
        assertArrayEquals(new float[] {1, 2, 3}, download(x, 3));
        ok(JCublas2.cublasSetPointerMode(handle, cublasPointerMode.CUBLAS_POINTER_MODE_HOST));
        expect(INVALID_VALUE, JCublas2.cublasSetPointerMode(handle, 7));
    }

    // ---- level 1 -------------------------------------------------------------------------------------------------

    @Test
    void levelOneRoutines() {
        float[] xs = randomFloats(9);
        float[] ys = randomFloats(9);
        CUdeviceptr x = upload(xs);
        CUdeviceptr y = upload(ys);

        // axpy on every other element of x into the first five of y
        ok(JCublas2.cublasSaxpy(handle, 5, f(-2f), x, 2, y, 1));
        float[] got = download(y, 9);
        for (int i = 0; i < 9; i++) {
            float expected = i < 5 ? -2f * xs[2 * i] + ys[i] : ys[i];
            assertEquals(expected, got[i], 1e-6f, "axpy y[" + i + "]");
        }
        // negative increment: x is walked from its far end, as in the reference BLAS
        CUdeviceptr y2 = upload(new float[3]);
        ok(JCublas2.cublasSaxpy(handle, 3, f(1f), x, -1, y2, 1));
        assertArrayEquals(new float[] {xs[2], xs[1], xs[0]}, download(y2, 3));

        // scal: stride 3
        CUdeviceptr s = upload(xs);
        ok(JCublas2.cublasSscal(handle, 3, f(0.5f), s, 3));
        got = download(s, 9);
        for (int i = 0; i < 9; i++) {
            assertEquals(i % 3 == 0 ? 0.5f * xs[i] : xs[i], got[i], "scal x[" + i + "]");
        }

        // copy
        CUdeviceptr c = nanBuffer(4);
        ok(JCublas2.cublasScopy(handle, 4, x, 2, c, 1));
        assertArrayEquals(new float[] {xs[0], xs[2], xs[4], xs[6]}, download(c, 4));

        // dot and nrm2 into host memory
        float[] result = {Float.NaN};
        ok(JCublas2.cublasSdot(handle, 9, x, 1, y, 1, Pointer.to(result)));
        float[] yNow = download(y, 9);
        float dot = 0;
        double magnitude = 0;
        for (int i = 0; i < 9; i++) {
            dot += xs[i] * yNow[i];
            magnitude += Math.abs((double) xs[i] * yNow[i]);
        }
        assertClose(dot, result[0], magnitude, "dot");
        ok(JCublas2.cublasSnrm2(handle, 9, x, 1, Pointer.to(result)));
        double squares = 0;
        for (float v : xs) {
            squares += (double) v * v;
        }
        assertClose((float) Math.sqrt(squares), result[0], Math.sqrt(squares), "nrm2");
        // n <= 0 gives 0, as in the reference BLAS
        result[0] = Float.NaN;
        ok(JCublas2.cublasSdot(handle, 0, x, 1, y, 1, Pointer.to(result)));
        assertEquals(0f, result[0]);
        result[0] = Float.NaN;
        ok(JCublas2.cublasSnrm2(handle, 0, x, 1, Pointer.to(result)));
        assertEquals(0f, result[0]);
    }

    // ---- geam ----------------------------------------------------------------------------------------------------

    @Test
    void sgeamMatchesReferenceForEveryTransposeCombination() {
        int m = 3;
        int n = 5;
        float alpha = 2f;
        float beta = -1.5f;
        for (int ta : new int[] {N, T}) {
            for (int tb : new int[] {N, T}) {
                boolean at = ta == T;
                boolean bt = tb == T;
                int lda = (at ? n : m) + 1;
                int ldb = (bt ? n : m) + 2;
                int ldc = m;
                float[] a = randomFloats(lda * (at ? m : n));
                float[] b = randomFloats(ldb * (bt ? m : n));
                CUdeviceptr dc = nanBuffer(ldc * n);
                ok(JCublas2.cublasSgeam(handle, ta, tb, m, n, f(alpha), upload(a), lda, f(beta), upload(b), ldb, dc,
                        ldc));
                float[] got = download(dc, ldc * n);
                for (int j = 0; j < n; j++) {
                    for (int i = 0; i < m; i++) {
                        float x = op(a, lda, at, i, j);
                        float y = op(b, ldb, bt, i, j);
                        float expected = alpha * x + beta * y;
                        assertClose(expected, got[i + j * ldc], Math.abs(alpha * x) + Math.abs(beta * y),
                                "transa=" + ta + " transb=" + tb + " C(" + i + "," + j + ")");
                    }
                }
            }
        }
    }

    @Test
    void sgeamTransposesWithBetaZeroWithoutReadingB() {
        float[] a = randomFloats(6);  // 2 x 3
        CUdeviceptr dc = nanBuffer(6);
        ok(JCublas2.cublasSgeam(handle, T, N, 3, 2, f(1f), upload(a), 2, f(0f), nanBuffer(6), 3, dc, 3));
        float[] got = download(dc, 6);
        for (int j = 0; j < 2; j++) {
            for (int i = 0; i < 3; i++) {
                assertEquals(a[j + 2 * i], got[i + 3 * j]);
            }
        }
    }

    @Test
    void sgeamInPlaceRules() {
        float[] a = {1, 2, 3, 4};
        CUdeviceptr da = upload(a);
        CUdeviceptr db = upload(new float[] {10, 20, 30, 40});
        ok(JCublas2.cublasSgeam(handle, N, N, 2, 2, f(1f), da, 2, f(1f), db, 2, da, 2));
        assertArrayEquals(new float[] {11, 22, 33, 44}, download(da, 4));
        expect(INVALID_VALUE, JCublas2.cublasSgeam(handle, T, N, 2, 2, f(1f), da, 2, f(1f), db, 2, da, 2));
    }

    // ---- errors, handle, modes -------------------------------------------------------------------------------------

    @Test
    void argumentErrors() {
        CUdeviceptr buf = upload(new float[64]);
        Pointer one = f(1f);
        // negative sizes
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, -1, 2, 2, one, buf, 2, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 2, -1, 2, one, buf, 2, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 2, 2, -1, one, buf, 2, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgeam(handle, N, N, -1, 2, one, buf, 2, one, buf, 2, buf, 2));
        // leading dimensions too small: lda >= rows of A as stored (m for N, k for T)
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 3, 2, 2, one, buf, 2, buf, 2, one, buf, 3));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, T, N, 2, 2, 3, one, buf, 2, buf, 3, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 2, 2, 3, one, buf, 2, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, T, 2, 3, 2, one, buf, 2, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 3, 2, 2, one, buf, 3, buf, 2, one, buf, 2));
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, N, N, 0, 2, 2, one, buf, 0, buf, 2, one, buf, 1));
        expect(INVALID_VALUE, JCublas2.cublasSgeam(handle, N, N, 3, 2, one, buf, 2, one, buf, 3, buf, 3));
        expect(INVALID_VALUE, JCublas2.cublasSgeam(handle, N, N, 3, 2, one, buf, 3, one, buf, 3, buf, 2));
        // invalid operation
        expect(INVALID_VALUE, JCublas2.cublasSgemm(handle, 7, N, 2, 2, 2, one, buf, 2, buf, 2, one, buf, 2));
        // empty problems are fine
        ok(JCublas2.cublasSgemm(handle, N, N, 0, 2, 2, one, buf, 1, buf, 2, one, buf, 1));
        // a device operand outside every allocation: what would be an illegal address on a GPU
        StandIn.resetCounters();
        expect(EXECUTION_FAILED, JCublas2.cublasSgemm(handle, N, N, 9, 9, 9, one, buf, 9, buf, 9, one, buf, 9));
        assertTrue(StandIn.lastError().contains("cublasSgemm_v2"), StandIn::lastError);
        assertEquals(0, StandIn.countCategory("any"), "cuBLAS calls are not driver calls");
        // entry points the stand-in does not implement return NOT_SUPPORTED instead of killing the JVM
        expect(NOT_SUPPORTED, JCublas2.cublasSgemv(handle, N, 2, 2, one, buf, 2, buf, 1, one, buf, 1));
        assertEquals("CUBLAS_STATUS_INVALID_VALUE", JCublas2.cublasGetStatusName(INVALID_VALUE));
    }

    @Test
    void nullAndDestroyedHandles() {
        cublasHandle none = new cublasHandle();
        CUdeviceptr buf = upload(new float[4]);
        expect(NOT_INITIALIZED, JCublas2.cublasSscal(none, 4, f(1f), buf, 1));
        expect(NOT_INITIALIZED, JCublas2.cublasSetPointerMode(none, cublasPointerMode.CUBLAS_POINTER_MODE_HOST));
        expect(NOT_INITIALIZED, JCublas2.cublasDestroy(none));

        cublasHandle second = new cublasHandle();
        ok(JCublas2.cublasCreate(second));
        ok(JCublas2.cublasSscal(second, 4, f(1f), buf, 1));
        ok(JCublas2.cublasDestroy(second));
        expect(NOT_INITIALIZED, JCublas2.cublasSscal(second, 4, f(1f), buf, 1));
        expect(NOT_INITIALIZED, JCublas2.cublasDestroy(second));
    }

    @Test
    void streamMathModeAndVersion() {
        CUstream stream = new CUstream();
        assertEquals(CUresult.CUDA_SUCCESS, cuStreamCreate(stream, 0));
        cudaStream_t set = new cudaStream_t(stream);
        ok(JCublas2.cublasSetStream(handle, set));
        cudaStream_t got = new cudaStream_t();
        ok(JCublas2.cublasGetStream(handle, got));
        assertEquals(set, got);
        ok(JCublas2.cublasSetStream(handle, new cudaStream_t()));  // back to the default stream
        assertEquals(CUresult.CUDA_SUCCESS, cuStreamDestroy(stream));

        int[] mode = {-1};
        ok(JCublas2.cublasGetMathMode(handle, mode));
        assertEquals(cublasMath.CUBLAS_DEFAULT_MATH, mode[0]);
        int pedantic = cublasMath.CUBLAS_PEDANTIC_MATH | cublasMath.CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
        ok(JCublas2.cublasSetMathMode(handle, pedantic));
        ok(JCublas2.cublasGetMathMode(handle, mode));
        assertEquals(pedantic, mode[0]);
        expect(INVALID_VALUE, JCublas2.cublasSetMathMode(handle, 99));

        int[] version = {0};
        ok(JCublas2.cublasGetVersion(handle, version));
        assertEquals(120001, version[0]);
    }
}
