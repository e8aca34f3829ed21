package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.ModelLayout;
import io.fusedopt.bench.StepBench;
import java.util.concurrent.TimeUnit;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasSideMode;
import jcuda.jcublas.cublasStatus;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * CUDA only: the fused AdamW kernel against AdamW composed from cuBLAS level-1 calls, one flat tensor.
 *
 * <p>cuBLAS has no element-wise square root or division, so the composition covers what it can and stops
 * there: {@code w *= decay} (scal), {@code m = β1 m + (1-β1) g} (scal, axpy), {@code q = g ∘ g} (dgmm with a
 * 1×n matrix), {@code v = β2 v + (1-β2) q} (scal, axpy) and {@code w += -η m} (axpy, the direction without the
 * adaptive denominator). That is seven launches and about 72 bytes per parameter against one launch and 28: a
 * lower bound on the cost of an unfused Adam.
 *
 * <p>JCublas needs libcublas.so.12; when it cannot load, setup prints why and fails this benchmark only.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CublasAdamBenchmark {
    /** Parameters in the tensor. */
    @Param({"1048576", "16777216"})
    public int params;

    private Device device;
    private ParameterStore store;
    private Optimizer opt;
    private cublasHandle handle;
    private CUdeviceptr w, g, m, v, q;
    private final Pointer decay = Pointer.to(new float[] {1f - 1e-5f});
    private final Pointer b1 = Pointer.to(new float[] {0.9f});
    private final Pointer omb1 = Pointer.to(new float[] {0.1f});
    private final Pointer b2 = Pointer.to(new float[] {0.999f});
    private final Pointer omb2 = Pointer.to(new float[] {1e-3f});
    private final Pointer negLr = Pointer.to(new float[] {-1e-3f});

    /** Opens CUDA, builds the library's AdamW, then loads cuBLAS and allocates its five buffers. */
    @Setup
    public void setup() {
        device = Device.cuda();
        store = ModelLayout.single(params).build(device);
        StepBench.fill(store);
        opt = Optimizers.adamW().build(store);
        device.synchronize();
        try {
            JCublas2.setExceptionsEnabled(false);
            handle = new cublasHandle();
            int r = JCublas2.cublasCreate(handle);
            if (r != cublasStatus.CUBLAS_STATUS_SUCCESS) {
                throw new IllegalStateException("cublasCreate: " + cublasStatus.stringFor(r));
            }
        } catch (Throwable t) {
            handle = null;
            String why = "skipping CublasAdamBenchmark: JCublas cannot load or start (" + t + ");"
                    + " it needs libcublas.so.12 on the library path";
            System.err.println(why);
            tearDown();
            throw new IllegalStateException(why, t);
        }
        w = alloc(1f);
        g = alloc(1e-2f);
        m = alloc(0f);
        v = alloc(0f);
        q = alloc(0f);
    }

    private CUdeviceptr alloc(float value) {
        CUdeviceptr p = new CUdeviceptr();
        check(JCudaDriver.cuMemAlloc(p, 4L * params), "cuMemAlloc");
        check(JCudaDriver.cuMemsetD32(p, Float.floatToIntBits(value), params), "cuMemsetD32");
        return p;
    }

    private static void check(int r, String call) {
        if (r != CUresult.CUDA_SUCCESS) {
            throw new IllegalStateException(call + ": " + CUresult.stringFor(r));
        }
    }

    /** The library's fused step (one update launch), waited for. */
    @Benchmark
    public void fused() {
        opt.step();
        opt.synchronize();
    }

    /** The cuBLAS composition (seven launches), waited for. */
    @Benchmark
    public void cublasComposed() {
        int n = params;
        JCublas2.cublasSscal(handle, n, decay, w, 1);
        JCublas2.cublasSscal(handle, n, b1, m, 1);
        JCublas2.cublasSaxpy(handle, n, omb1, g, 1, m, 1);
        // q = g diag(g): a 1×n matrix scaled column by column is the element-wise square.
        JCublas2.cublasSdgmm(handle, cublasSideMode.CUBLAS_SIDE_RIGHT, 1, n, g, 1, g, 1, q, 1);
        JCublas2.cublasSscal(handle, n, b2, v, 1);
        JCublas2.cublasSaxpy(handle, n, omb2, q, 1, v, 1);
        JCublas2.cublasSaxpy(handle, n, negLr, m, 1, w, 1);
        check(JCudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /** Frees the cuBLAS handle and buffers, the optimizer, the arena and the device. */
    @TearDown
    public void tearDown() {
        if (device != null && handle != null) {
            device.synchronize();
            for (CUdeviceptr p : new CUdeviceptr[] {w, g, m, v, q}) {
                if (p != null) {
                    JCudaDriver.cuMemFree(p);
                }
            }
            JCublas2.cublasDestroy(handle);
            handle = null;
        }
        Closing.all(opt, store, device);
        opt = null;
        store = null;
        device = null;
    }
}
