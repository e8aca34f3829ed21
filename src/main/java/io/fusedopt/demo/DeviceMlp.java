package io.fusedopt.demo;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import io.fusedopt.core.CudaException;
import io.fusedopt.ParameterStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.jcublas.cublasStatus;
import jcuda.runtime.cudaStream_t;

/**
 * The demo MLP (the same model as {@link Mlp}) trained entirely on the CUDA device: the parameters and gradients
 * are the {@link ParameterStore}'s device arenas, the data sets are uploaded once, the matrix products run in
 * cuBLAS and the element-wise parts (bias and ReLU, the ReLU mask, softmax cross-entropy, bias gradients, the
 * loss and accuracy tallies) as the kernels of {@code cuda/demo.cu}. Nothing is copied to the host per step except
 * kernel arguments; losses and accuracies are read back when asked for.
 *
 * <p>cuBLAS and the kernels run on the legacy default stream; the library's optimizer step runs on a blocking
 * stream, which orders itself after (and before) the default stream's work. The results equal {@link Mlp}'s up to
 * float rounding (cuBLAS sums in its own order, the softmax runs in float).
 *
 * <p>Needs the store's CUDA context current on the calling thread (the constructor makes it so through
 * {@link io.fusedopt.Device#synchronize()}) and a loadable JCublas. Not thread-safe.
 */
public final class DeviceMlp implements AutoCloseable {
    /** The layer widths, input first, as in {@link Mlp}. */
    private static final int[] WIDTHS = {Dataset.FEATURES, 128, 128, Dataset.CLASSES};
    private static final int LAYERS = WIDTHS.length - 1;
    private static final int BLOCK = 256;
    /** The entries of the {@code demo} kernel module. */
    static final List<String> ENTRIES = List.of("demo_gather", "demo_bias_act", "demo_relu_backward",
            "demo_softmax_xent", "demo_bias_grad", "demo_tally");

    private final int maxRows;
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private final CUdeviceptr[] w = new CUdeviceptr[LAYERS];
    private final CUdeviceptr[] b = new CUdeviceptr[LAYERS];
    private final CUdeviceptr[] gw = new CUdeviceptr[LAYERS];
    private final CUdeviceptr[] gb = new CUdeviceptr[LAYERS];
    // act[0] the input batch, act[l] layer l's output (after ReLU except for the logits).
    private final CUdeviceptr[] act = new CUdeviceptr[LAYERS + 1];
    // delta[l]: dLoss/d(pre-activation output of layer l), one row per sample; delta[LAYERS-1] is dlogits.
    private final CUdeviceptr[] delta = new CUdeviceptr[LAYERS];
    private CUdeviceptr labels;
    private CUdeviceptr rowLoss;
    private CUdeviceptr lossSum;
    private CUdeviceptr correct;
    private CUmodule module;
    private CUfunction gather, biasAct, reluBackward, softmaxXent, biasGrad, tally;
    private cublasHandle handle;
    private final List<Data> uploaded = new ArrayList<>();
    private boolean closed;

    /** A data set uploaded to the device: features, labels and an index buffer (identity until reordered). */
    public final class Data {
        private final int size;
        private final CUdeviceptr features;
        private final CUdeviceptr labelsOf;
        private final CUdeviceptr order;

        private Data(Dataset d) {
            size = d.size();
            float[] f = new float[size * Dataset.FEATURES];
            int[] all = new int[size];
            for (int i = 0; i < size; i++) {
                all[i] = i;
            }
            d.gather(all, 0, size, f);
            features = alloc((long) f.length * Float.BYTES);
            labelsOf = alloc((long) Math.max(1, size) * Integer.BYTES);
            order = alloc((long) Math.max(1, size) * Integer.BYTES);
            check(cuMemcpyHtoD(features, Pointer.to(f), (long) f.length * Float.BYTES), "upload features");
            check(cuMemcpyHtoD(labelsOf, Pointer.to(d.labels()), (long) size * Integer.BYTES), "upload labels");
            setOrder(all);
        }

        /** The number of samples. */
        public int size() {
            return size;
        }

        /** Uploads the sample order that {@link #trainStep} batches follow; rejects a wrong length. */
        public void setOrder(int[] indices) {
            if (indices.length != size) {
                throw new IllegalArgumentException("expected " + size + " indices, got " + indices.length);
            }
            check(cuMemcpyHtoD(order, Pointer.to(indices), (long) size * Integer.BYTES), "upload the order");
        }
    }

    /**
     * Binds a model to {@code store}'s tensors (declared by {@link Mlp#declare}) with room for {@code maxRows}
     * samples per pass; allocates the activations, loads the kernels and opens a cuBLAS handle.
     *
     * @throws IllegalArgumentException when {@code maxRows < 1}
     * @throws CudaException when an allocation, the module load or cuBLAS fails
     */
    public DeviceMlp(ParameterStore store, int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be >= 1, got " + maxRows);
        }
        this.maxRows = maxRows;
        try {
            store.device().synchronize(); // makes the store's context current on this thread
            List<String> names = Mlp.tensorNames();
            for (int l = 0; l < LAYERS; l++) {
                w[l] = at(store.parameterAddress(names.get(2 * l)));
                b[l] = at(store.parameterAddress(names.get(2 * l + 1)));
                gw[l] = at(store.gradientAddress(names.get(2 * l)));
                gb[l] = at(store.gradientAddress(names.get(2 * l + 1)));
            }
            for (int l = 0; l <= LAYERS; l++) {
                act[l] = alloc((long) maxRows * WIDTHS[l] * Float.BYTES);
            }
            for (int l = 0; l < LAYERS; l++) {
                delta[l] = alloc((long) maxRows * WIDTHS[l + 1] * Float.BYTES);
            }
            labels = alloc((long) maxRows * Integer.BYTES);
            rowLoss = alloc((long) maxRows * Float.BYTES);
            lossSum = alloc(Double.BYTES);
            correct = alloc(Integer.BYTES);
            check(cuMemsetD32(lossSum, 0, 2), "zero the loss");
            check(cuMemsetD32(correct, 0, 1), "zero the accuracy");
            loadModule();
            cublasHandle h = new cublasHandle();
            checkBlas(JCublas2.cublasCreate(h), "cublasCreate");
            handle = h;
            checkBlas(JCublas2.cublasSetStream(handle, new cudaStream_t()), "cublasSetStream");
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Uploads a data set (once); it is freed with the model. */
    public Data upload(Dataset d) {
        live();
        Data data = new Data(d);
        uploaded.add(data);
        return data;
    }

    /**
     * One forward and backward pass over {@code data}'s samples {@code order[from..from+count)}: leaves the
     * gradients of the batch's mean cross-entropy in the store's gradient arena and adds the batch's summed loss
     * and correct count to the tallies ({@link #takeTally}).
     *
     * @throws IllegalArgumentException when {@code count} is not in {@code [1, maxRows]} or the range leaves the
     *     data
     */
    public void trainStep(Data data, int from, int count) {
        pass(data, from, count);
        backward(count);
    }

    /** The mean loss and the accuracy over all of {@code data} in its current order (forward only). */
    public Mlp.Evaluation evaluate(Data data) {
        if (data.size == 0) {
            throw new IllegalArgumentException("cannot evaluate on an empty data set");
        }
        takeTally();
        for (int from = 0; from < data.size; from += maxRows) {
            pass(data, from, Math.min(maxRows, data.size - from));
        }
        Tally t = takeTally();
        return new Mlp.Evaluation(t.lossSum() / data.size, (double) t.correct() / data.size);
    }

    /** Summed per-sample loss and correct count since the last call. */
    public record Tally(double lossSum, int correct) {
    }

    /** Reads the tallies back (one synchronising copy each) and zeroes them. */
    public Tally takeTally() {
        live();
        double[] s = new double[1];
        int[] c = new int[1];
        check(cuMemcpyDtoH(Pointer.to(s), lossSum, Double.BYTES), "read the loss");
        check(cuMemcpyDtoH(Pointer.to(c), correct, Integer.BYTES), "read the accuracy");
        check(cuMemsetD32(lossSum, 0, 2), "zero the loss");
        check(cuMemsetD32(correct, 0, 1), "zero the accuracy");
        return new Tally(s[0], c[0]);
    }

    // Gather, forward, softmax cross-entropy (leaving dlogits in delta[LAYERS-1]) and tallies.
    private void pass(Data data, int from, int count) {
        live();
        if (count < 1 || count > maxRows) {
            throw new IllegalArgumentException("count must be in [1, " + maxRows + "], got " + count);
        }
        if (from < 0 || from > data.size - count) {
            throw new IllegalArgumentException("rows [" + from + ", " + (from + count) + ") leave a data set of "
                    + data.size);
        }
        launch(gather, (long) count * Dataset.FEATURES, Pointer.to(data.features), Pointer.to(data.labelsOf),
                Pointer.to(data.order.withByteOffset((long) from * Integer.BYTES)), i32(count),
                i32(Dataset.FEATURES), Pointer.to(act[0]), Pointer.to(labels));
        for (int l = 0; l < LAYERS; l++) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            // Row-major Y[count, out] = X[count, in] · Wᵀ is column-major Yᵀ = W · Xᵀ, where the row-major W
            // [out, in] is a column-major [in, out] matrix, used transposed.
            gemm(cublasOperation.CUBLAS_OP_T, cublasOperation.CUBLAS_OP_N, out, count, in, w[l], in, act[l], in,
                    act[l + 1], out);
            launch(biasAct, (long) count * out, Pointer.to(act[l + 1]), Pointer.to(b[l]), i32(count), i32(out),
                    i32(l < LAYERS - 1 ? 1 : 0));
        }
        launch(softmaxXent, count, Pointer.to(act[LAYERS]), Pointer.to(labels), i32(count), i32(Dataset.CLASSES),
                Pointer.to(new float[] {1f / count}), Pointer.to(delta[LAYERS - 1]), Pointer.to(rowLoss));
        launch(tally, 1, Pointer.to(rowLoss), Pointer.to(act[LAYERS]), Pointer.to(labels), i32(count),
                i32(Dataset.CLASSES), Pointer.to(lossSum), Pointer.to(correct));
    }

    private void backward(int count) {
        for (int l = LAYERS - 1; l >= 0; l--) {
            int in = WIDTHS[l], out = WIDTHS[l + 1];
            // gW[out, in] = Dᵀ · X (row-major) is column-major gWᵀ[in, out] = Xᵀ · D.
            gemm(cublasOperation.CUBLAS_OP_N, cublasOperation.CUBLAS_OP_T, in, out, count, act[l], in, delta[l],
                    out, gw[l], in);
            launch(biasGrad, out, Pointer.to(delta[l]), i32(count), i32(out), Pointer.to(gb[l]));
            if (l > 0) {
                // dX[count, in] = D · W (row-major) is column-major dXᵀ = Wᵀ · Dᵀ; then the ReLU mask of layer l.
                gemm(cublasOperation.CUBLAS_OP_N, cublasOperation.CUBLAS_OP_N, in, count, out, w[l], in, delta[l],
                        out, delta[l - 1], in);
                launch(reluBackward, (long) count * in, Pointer.to(delta[l - 1]), Pointer.to(act[l]),
                        i32(count * in));
            }
        }
    }

    private final Pointer one = Pointer.to(new float[] {1f});
    private final Pointer zero = Pointer.to(new float[] {0f});

    // Column-major C[m, n] = op(A) · op(B), overwriting C.
    private void gemm(int opA, int opB, int m, int n, int k, CUdeviceptr a, int lda, CUdeviceptr bm, int ldb,
            CUdeviceptr c, int ldc) {
        checkBlas(JCublas2.cublasSgemm(handle, opA, opB, m, n, k, one, a, lda, bm, ldb, zero, c, ldc),
                "cublasSgemm");
    }

    private void launch(CUfunction f, long threads, Pointer... args) {
        long blocks = (threads + BLOCK - 1) / BLOCK;
        check(cuLaunchKernel(f, (int) blocks, 1, 1, BLOCK, 1, 1, 0, null, Pointer.to(args), null), "launch a demo"
                + " kernel");
    }

    private static Pointer i32(int v) {
        return Pointer.to(new int[] {v});
    }

    /** A JCuda device pointer for a raw device address (a null pointer moved by the address). */
    static CUdeviceptr at(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        check(cuMemAlloc(p, bytes), "allocate " + bytes + " bytes for the demo model");
        allocations.add(p);
        return p;
    }

    private void loadModule() {
        CUmodule m = new CUmodule();
        byte[] fatbin = resource("demo.fatbin", false);
        if (fatbin == null || cuModuleLoadData(m, fatbin) != CUresult.CUDA_SUCCESS) {
            byte[] ptx = resource("demo.ptx", true);
            if (ptx == null) {
                throw new IllegalStateException("kernel module demo.ptx is missing from this build");
            }
            m = new CUmodule();
            check(cuModuleLoadData(m, ptx), "load the demo kernels");
        }
        module = m;
        gather = function("demo_gather");
        biasAct = function("demo_bias_act");
        reluBackward = function("demo_relu_backward");
        softmaxXent = function("demo_softmax_xent");
        biasGrad = function("demo_bias_grad");
        tally = function("demo_tally");
    }

    private CUfunction function(String name) {
        CUfunction f = new CUfunction();
        check(cuModuleGetFunction(f, module, name), "find kernel " + name);
        return f;
    }

    /** A kernel resource's bytes, NUL-terminated when {@code text}; null when absent. */
    static byte[] resource(String name, boolean text) {
        try (InputStream in = DeviceMlp.class.getResourceAsStream("/io/fusedopt/cuda/" + name)) {
            if (in == null) {
                return null;
            }
            byte[] bytes = in.readAllBytes();
            return text ? Arrays.copyOf(bytes, bytes.length + 1) : bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void live() {
        if (closed) {
            throw new IllegalStateException("the device model is closed");
        }
    }

    private static void check(int result, String action) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(result, CUresult.stringFor(result), action);
        }
    }

    private static void checkBlas(int status, String action) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(status, cublasStatus.stringFor(status), action);
        }
    }

    /** Frees the buffers, the module and the cuBLAS handle; the store is left alone. Closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (handle != null) {
            JCublas2.cublasDestroy(handle);
            handle = null;
        }
        if (module != null) {
            cuModuleUnload(module);
            module = null;
        }
        for (CUdeviceptr p : allocations) {
            cuMemFree(p);
        }
        allocations.clear();
        uploaded.clear();
    }
}
