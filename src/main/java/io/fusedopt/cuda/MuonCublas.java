package io.fusedopt.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;

import io.fusedopt.core.CudaUnavailableException;
import io.fusedopt.rule.Muon;
import io.fusedopt.rule.Rule;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Muon's Newton–Schulz products through cuBLAS ({@code cublas=true}): per matrix and iteration, {@code A = X Xᵀ},
 * {@code B = c A A + b A} and {@code Y = B X + a X} as three {@code cublasSgemm} calls on the step stream (the
 * {@code b A} and {@code a X} terms through cuBLAS's {@code beta}, on a device copy of A and X). cuBLAS sums in its
 * own order, so this path is faster on a GPU but not bit-identical with the CPU; {@link Muon#CUBLAS_TOLERANCE}
 * bounds how far it strays from the deterministic path.
 *
 * <p>JCublas is an optional dependency of the library, reached by reflection: without {@code org.jcuda:jcublas} on
 * the class path, or without {@code libcublas.so.12}, {@link #open} throws {@link CudaUnavailableException} naming
 * what is missing, and the optimizer is not built. The row-major matrices are read as column-major ones, their
 * transposes: {@code A} and {@code B} are symmetric, and {@code Yᵀ = Xᵀ B + a Xᵀ}.
 */
final class MuonCublas implements AutoCloseable {
    /** One matrix: its rows and columns, scratch offset (floats) and the coefficients of its group. */
    private record Job(long rows, long cols, long scratch, float a, float b, float c) {
    }

    private static final int OP_N = 0;
    private static final int OP_T = 1;

    private final CudaBackend backend;
    private final Object handle;
    private final Method sgemm;
    private final Method destroy;
    private final List<Job> jobs = new ArrayList<>();
    private boolean closed;

    private MuonCublas(CudaBackend backend, Object handle, Method sgemm, Method destroy) {
        this.backend = backend;
        this.handle = handle;
        this.sgemm = sgemm;
        this.destroy = destroy;
    }

    /**
     * Opens a cuBLAS handle on the backend's stream for the matrices of {@code geometry} (rows of
     * {@link Rule#tensorGeometryWidth()} longs), with each matrix's coefficients from its group
     * ({@code tensorGroups}).
     *
     * @throws CudaUnavailableException when JCublas or libcublas cannot be used, with the reason
     */
    static MuonCublas open(CudaBackend backend, long[] geometry, Rule rule, int[] tensorGroups) {
        Object handle;
        Method sgemm;
        Method destroy;
        try {
            JCudaNatives.loadCublas();
            Class<?> jcublas = Class.forName("jcuda.jcublas.JCublas2");
            Class<?> handleType = Class.forName("jcuda.jcublas.cublasHandle");
            Class<?> streamType = Class.forName("jcuda.runtime.cudaStream_t");
            handle = handleType.getConstructor().newInstance();
            int status = (Integer) jcublas.getMethod("cublasCreate", handleType).invoke(null, handle);
            if (status != 0) {
                throw new CudaUnavailableException("muon's cublas=true path cannot open a cuBLAS handle: cublasCreate"
                        + " returned status " + status);
            }
            Object stream = streamType.getConstructor(jcuda.driver.CUstream.class).newInstance(backend.stream());
            jcublas.getMethod("cublasSetStream", handleType, streamType).invoke(null, handle, stream);
            sgemm = jcublas.getMethod("cublasSgemm", handleType, int.class, int.class, int.class, int.class,
                    int.class, Pointer.class, Pointer.class, int.class, Pointer.class, int.class, Pointer.class,
                    Pointer.class, int.class);
            destroy = jcublas.getMethod("cublasDestroy", handleType);
        } catch (CudaUnavailableException e) {
            throw e;
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {
            Throwable cause = e instanceof java.lang.reflect.InvocationTargetException ite && ite.getCause() != null
                    ? ite.getCause() : e;
            throw new CudaUnavailableException("muon's cublas=true path needs JCublas (org.jcuda:jcublas on the class"
                    + " path) and libcublas.so.12; it cannot use them here (" + cause.getClass().getSimpleName()
                    + (cause.getMessage() == null ? "" : ": " + cause.getMessage().lines().findFirst().orElse(""))
                    + "); build with cublas=false for the deterministic products");
        }
        MuonCublas m = new MuonCublas(backend, handle, sgemm, destroy);
        int w = rule.tensorGeometryWidth();
        for (int t = 0; t < geometry.length / w; t++) {
            if (geometry[t * w + Muon.ORTHO] == 0) {
                continue;
            }
            var v = rule.values(tensorGroups[t]);
            m.jobs.add(new Job(geometry[t * w + Muon.ROWS], geometry[t * w + Muon.COLS],
                    geometry[t * w + Rule.GEOMETRY_SCRATCH_OFFSET], (float) v.number("ns_coeffs", 0),
                    (float) v.number("ns_coeffs", 1), (float) v.number("ns_coeffs", 2)));
        }
        return m;
    }

    /** One iteration over every matrix: X is at {@code parity ? r c : 0} of each matrix's scratch, Y at the other. */
    void iterate(CUdeviceptr scratch, int parity) {
        for (Job j : jobs) {
            long r = j.rows(), c = j.cols();
            long base = j.scratch() * Float.BYTES;
            CUdeviceptr x = scratch.withByteOffset(base + (parity != 0 ? r * c * Float.BYTES : 0));
            CUdeviceptr y = scratch.withByteOffset(base + (parity != 0 ? 0 : r * c * Float.BYTES));
            CUdeviceptr a = scratch.withByteOffset(base + 2 * r * c * Float.BYTES);
            CUdeviceptr b = scratch.withByteOffset(base + (2 * r * c + r * r) * Float.BYTES);
            int ri = (int) r, ci = (int) c;
            // A = X Xᵀ: the column-major view of X is Xᵀ (c × r), so A = (Xᵀ)ᵀ Xᵀ.
            gemm(OP_T, OP_N, ri, ri, ci, 1f, x, ci, x, ci, 0f, a, ri);
            // B = c (A A) + b A, on a copy of A.
            Driver.check(cuMemcpyDtoDAsync(b, a, r * r * Float.BYTES, backend.stream()), "copying A for cuBLAS");
            gemm(OP_N, OP_N, ri, ri, ri, j.c(), a, ri, a, ri, j.b(), b, ri);
            // Yᵀ = Xᵀ B + a Xᵀ (B symmetric), on a copy of X.
            Driver.check(cuMemcpyDtoDAsync(y, x, r * c * Float.BYTES, backend.stream()), "copying X for cuBLAS");
            gemm(OP_N, OP_N, ci, ri, ri, 1f, x, ci, b, ri, j.a(), y, ci);
        }
    }

    private void gemm(int ta, int tb, int m, int n, int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b,
            int ldb, float beta, CUdeviceptr c, int ldc) {
        int status;
        try {
            status = (Integer) sgemm.invoke(null, handle, ta, tb, m, n, k, Pointer.to(new float[] {alpha}), a, lda, b,
                    ldb, Pointer.to(new float[] {beta}), c, ldc);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("calling cublasSgemm for muon failed: " + e, e);
        }
        if (status != 0) {
            throw new io.fusedopt.core.CudaException(status, "CUBLAS_STATUS_" + status,
                    "cublasSgemm (" + m + " x " + n + " x " + k + ") for muon's Newton-Schulz products");
        }
    }

    /** Destroys the handle; never throws. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            try {
                destroy.invoke(null, handle);
            } catch (ReflectiveOperationException | RuntimeException ignored) {
                // closing: nothing more to do
            }
        }
    }
}
