package io.fusedopt.emu;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamIsCapturing;
import static jcuda.driver.JCudaDriver.cuStreamQuery;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;
import static jcuda.driver.JCudaDriver.cuThreadExchangeStreamCaptureMode;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstreamCaptureStatus;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Stream capture and CUDA graphs in the stand-in, driven through JCuda with the shipped kernels ({@code adam.fatbin},
 * {@code common.fatbin}): one optimizer step (gradient upload, flag reset, finite check, AdamW, parameter download)
 * captured once and replayed equals the same step run eagerly, and every operation capture forbids is refused with
 * the driver's error code.
 */
@Tag("cuda-emu")
class StreamCaptureTest {
    private static final int SUCCESS = CUresult.CUDA_SUCCESS;
    private static final int GLOBAL = CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL;
    private static final int N = 5000;
    private static final int STEPS = 4;

    private static CUdevice device;
    private static byte[] adamImage;
    private static byte[] commonImage;

    private CUcontext ctx;
    private CUstream stream;
    private CUfunction adamw;
    private CUfunction finiteCheck;

    @BeforeAll
    static void requireStandIn() throws IOException {
        if (System.getProperty("fusedopt.emu.dir") != null) {
            assertTrue(StandIn.active(), StandIn::inactiveReason);
        } else {
            assumeTrue(StandIn.active(), "CUDA stand-in not active: " + StandIn.inactiveReason());
        }
        JCudaDriver.setExceptionsEnabled(false);
        ok(cuInit(0));
        device = new CUdevice();
        ok(cuDeviceGet(device, 0));
        adamImage = resource("adam.fatbin");
        commonImage = resource("common.fatbin");
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = StreamCaptureTest.class.getResourceAsStream("/io/fusedopt/cuda/" + name)) {
            assertNotNull(in, name + " missing from the resources");
            return in.readAllBytes();
        }
    }

    @BeforeEach
    void setUp() {
        StandIn.clearFaults();
        ctx = new CUcontext();
        ok(cuCtxCreate(ctx, 0, device));
        stream = new CUstream();
        ok(cuStreamCreate(stream, 0));  // a blocking stream, as the CUDA backend creates its step stream
        adamw = function(adamImage, "adamw_f32");
        finiteCheck = function(commonImage, "finite_check_f32");
    }

    @AfterEach
    void tearDown() {
        int[] mode = {GLOBAL};
        ok(cuThreadExchangeStreamCaptureMode(mode));
        ok(cuCtxDestroy(ctx));
    }

    private static void ok(int result) {
        expect(SUCCESS, result);
    }

    private static void expect(int expected, int result) {
        assertEquals(CUresult.stringFor(expected), CUresult.stringFor(result),
                () -> "driver said: " + StandIn.lastError());
    }

    private static CUfunction function(byte[] image, String name) {
        CUmodule m = new CUmodule();
        ok(cuModuleLoadData(m, image));
        CUfunction f = new CUfunction();
        ok(cuModuleGetFunction(f, m, name));
        return f;
    }

    private static CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        ok(cuMemAlloc(p, bytes));
        return p;
    }

    private static CUdeviceptr upload(float[] data) {
        CUdeviceptr p = alloc(4L * data.length);
        ok(cuMemcpyHtoD(p, Pointer.to(data), 4L * data.length));
        return p;
    }

    private static int[] downloadBits(CUdeviceptr p, int n) {
        int[] out = new int[n];
        ok(cuMemcpyDtoH(Pointer.to(out), p, 4L * n));
        return out;
    }

    private static Pointer pinned(long bytes) {
        Pointer p = new Pointer();
        ok(cuMemAllocHost(p, bytes));
        return p;
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian() * scale;
        }
        return a;
    }

    private static int status(CUstream s) {
        int[] st = {-1};
        ok(cuStreamIsCapturing(s, st));
        return st[0];
    }

    /** The device buffers of one AdamW step over one tensor of N elements, and the pinned host buffers it uses. */
    private final class Step {
        final CUdeviceptr w;
        final CUdeviceptr g = alloc(4L * N);
        final CUdeviceptr m;
        final CUdeviceptr v;
        final CUdeviceptr chunks;
        final CUdeviceptr groups;
        final CUdeviceptr scalars;
        final CUdeviceptr flag = alloc(4);
        final Pointer hostGrad = pinned(4L * N);
        final Pointer hostOut = pinned(4L * N);
        /** The kernels' chunk count, in native memory the kernel parameters point into. */
        final ByteBuffer numChunks = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder());

        Step(float[] w0) {
            w = upload(w0);
            m = upload(new float[N]);
            v = upload(new float[N]);
            ByteBuffer table = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
            // ChunkDesc {offset, length, tensor, w, g}: no caller-owned addresses, the buffers below are the arena.
            table.putLong(0).putInt(N).putInt(0).putLong(0).putLong(0);
            chunks = alloc(32);
            ok(cuMemcpyHtoD(chunks, Pointer.to(table.array()), 32));
            // The tensor-to-group table comes after the step-control block (step_control.cuh), where the walker
            // reads the gradient coefficient: unscale and clip 1, so the kernel sees the gradient as uploaded.
            ByteBuffer control = ByteBuffer.allocate(128 + 4).order(ByteOrder.LITTLE_ENDIAN);
            control.putFloat(24, 1f).putFloat(28, 1f).putInt(128, 0);
            CUdeviceptr block = alloc(128 + 4);
            ok(cuMemcpyHtoD(block, Pointer.to(control.array()), 128 + 4));
            groups = block.withByteOffset(128);
            // AdamScalars: b1, 1-b1, b2, 1-b2, eps, wd, decay, -lr/bc1, sqrt(bc2), here at step 3.
            double lr = 1e-2;
            double bc1 = 1 - Math.pow(0.9, 3);
            double bc2 = 1 - Math.pow(0.999, 3);
            float[] s = {0.9f, 0.1f, 0.999f, 0.001f, 1e-8f, 0.01f, (float) (1 - lr * 0.01), (float) (-lr / bc1),
                (float) Math.sqrt(bc2)};
            scalars = upload(s);
            numChunks.putInt(0, 1);
        }

        void setGradient(float[] grad) {
            hostGrad.getByteBuffer(0, 4L * N).order(ByteOrder.nativeOrder()).asFloatBuffer().put(grad);
        }

        int[] out() {
            int[] bits = new int[N];
            hostOut.getByteBuffer(0, 4L * N).order(ByteOrder.nativeOrder()).asIntBuffer().get(bits);
            return bits;
        }

        /** Enqueues the step on the stream: upload, flag reset, finite check, update, download. */
        void enqueue() {
            ok(cuMemcpyHtoDAsync(g, hostGrad, 4L * N, stream));
            ok(cuMemsetD32Async(flag, 0, 1, stream));
            Pointer count = Pointer.to(numChunks);
            ok(cuLaunchKernel(finiteCheck, 1, 1, 1, 256, 1, 1, 0, stream,
                    Pointer.to(Pointer.to(g), Pointer.to(chunks), count, Pointer.to(flag)), null));
            ok(cuLaunchKernel(adamw, 1, 1, 1, 256, 1, 1, 0, stream,
                    Pointer.to(Pointer.to(w), Pointer.to(g), Pointer.to(m), Pointer.to(v), Pointer.to(chunks), count,
                            Pointer.to(groups), Pointer.to(scalars), Pointer.to(flag)), null));
            ok(cuMemcpyDtoHAsync(hostOut, w, 4L * N, stream));
        }
    }

    private CUgraphExec captureAndInstantiate(Step step) {
        ok(cuStreamBeginCapture(stream, GLOBAL));
        step.enqueue();
        CUgraph graph = new CUgraph();
        ok(cuStreamEndCapture(stream, graph));
        CUgraphExec exec = new CUgraphExec();
        ok(cuGraphInstantiate(exec, graph, 0));
        ok(cuGraphDestroy(graph));  // the executable graph does not need it
        return exec;
    }

    @Test
    void aCapturedStepReplayedEqualsTheStepRunEagerly() {
        Random r = new Random(5);
        float[] w0 = gaussian(r, N, 1f);
        float[][] grads = new float[STEPS][];
        for (int k = 0; k < STEPS; k++) {
            grads[k] = gaussian(r, N, 0.1f);
        }
        grads[1][17] = Float.NaN;  // the finite check must skip the second step in both runs
        Step eager = new Step(w0);
        Step graphed = new Step(w0);
        int[] initial = downloadBits(graphed.w, N);

        StandIn.resetCounters();
        CUgraphExec exec = captureAndInstantiate(graphed);
        assertEquals(2, StandIn.launches(), "the capture's launch calls are counted");
        assertArrayEquals(initial, downloadBits(graphed.w, N), "captured work must not run");
        assertArrayEquals(new int[] {0x7FC00000}, downloadBits(graphed.flag, 1), "the memset must not run");
        // Kernel parameters are captured by value: a later change to the argument memory does not reach the graph.
        graphed.numChunks.putInt(0, 0);

        for (int k = 0; k < STEPS; k++) {
            eager.setGradient(grads[k]);
            eager.enqueue();
        }
        ok(cuStreamSynchronize(stream));

        StandIn.resetCounters();
        for (int k = 0; k < STEPS; k++) {
            graphed.setGradient(grads[k]);  // copy nodes read host memory by address, at each replay
            ok(cuGraphLaunch(exec, stream));
        }
        assertEquals(STEPS, StandIn.count("cuGraphLaunch"));
        assertEquals(STEPS, StandIn.countCategory("graph_launch"));
        assertEquals(STEPS, StandIn.graphLaunches());
        assertEquals(0, StandIn.launches(), "a replay makes no launch calls");
        assertEquals(0, StandIn.copies());
        assertEquals(0, StandIn.countCategory("memset"));
        assertEquals(0, StandIn.synchronizations());
        assertEquals(STEPS, StandIn.countCategory("any"));
        ok(cuStreamSynchronize(stream));

        assertTrue(!java.util.Arrays.equals(initial, downloadBits(eager.w, N)), "the steps changed the parameters");
        assertArrayEquals(downloadBits(eager.w, N), downloadBits(graphed.w, N));
        assertArrayEquals(downloadBits(eager.m, N), downloadBits(graphed.m, N));
        assertArrayEquals(downloadBits(eager.v, N), downloadBits(graphed.v, N));
        assertArrayEquals(new int[] {0}, downloadBits(graphed.flag, 1), "the replays' memsets ran");
        assertArrayEquals(eager.out(), graphed.out());
        assertArrayEquals(downloadBits(graphed.w, N), graphed.out());
        ok(cuGraphExecDestroy(exec));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuGraphLaunch(exec, stream));
    }

    @Test
    void aGraphLaunchedIntoACaptureIsRecordedNotRun() {
        Step step = new Step(gaussian(new Random(1), N, 1f));
        step.setGradient(gaussian(new Random(2), N, 0.1f));
        CUgraphExec inner = captureAndInstantiate(step);
        int[] before = downloadBits(step.w, N);
        ok(cuStreamBeginCapture(stream, GLOBAL));
        ok(cuGraphLaunch(inner, stream));
        ok(cuGraphLaunch(inner, stream));
        CUgraph graph = new CUgraph();
        ok(cuStreamEndCapture(stream, graph));
        assertArrayEquals(before, downloadBits(step.w, N));
        CUgraphExec outer = new CUgraphExec();
        ok(cuGraphInstantiate(outer, graph, 0));

        Step reference = new Step(gaussian(new Random(1), N, 1f));
        reference.setGradient(gaussian(new Random(2), N, 0.1f));
        reference.enqueue();
        reference.enqueue();
        ok(cuGraphLaunch(outer, stream));
        assertArrayEquals(downloadBits(reference.w, N), downloadBits(step.w, N));
    }

    @Test
    void workForkedOntoAnotherStreamMustBeJoinedBack() {
        CUstream side = new CUstream();
        ok(cuStreamCreate(side, 0));
        CUdeviceptr a = alloc(64);
        CUdeviceptr b = alloc(64);
        CUevent fork = new CUevent();
        CUevent join = new CUevent();
        ok(cuEventCreate(fork, 0));
        ok(cuEventCreate(join, 0));

        ok(cuStreamBeginCapture(stream, GLOBAL));
        ok(cuEventRecord(fork, stream));
        ok(cuStreamWaitEvent(side, fork, 0));
        assertEquals(CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_ACTIVE, status(side), "the side stream joined");
        ok(cuMemsetD32Async(a, 7, 16, stream));
        ok(cuMemsetD32Async(b, 9, 16, side));
        ok(cuEventRecord(join, side));
        ok(cuStreamWaitEvent(stream, join, 0));
        CUgraph graph = new CUgraph();
        ok(cuStreamEndCapture(stream, graph));
        assertEquals(CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_NONE, status(side));
        CUgraphExec exec = new CUgraphExec();
        ok(cuGraphInstantiate(exec, graph, 0));
        ok(cuGraphLaunch(exec, stream));
        assertEquals(7, downloadBits(a, 16)[15]);
        assertEquals(9, downloadBits(b, 16)[15]);

        ok(cuStreamBeginCapture(stream, GLOBAL));
        ok(cuEventRecord(fork, stream));
        ok(cuStreamWaitEvent(side, fork, 0));
        ok(cuMemsetD32Async(b, 1, 16, side));
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, cuStreamEndCapture(side, new CUgraph()));
        CUgraph none = new CUgraph();
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(stream, none));

        ok(cuStreamBeginCapture(stream, GLOBAL));
        ok(cuEventRecord(fork, stream));
        ok(cuStreamWaitEvent(side, fork, 0));
        ok(cuMemsetD32Async(b, 1, 16, side));
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNJOINED, cuStreamEndCapture(stream, new CUgraph()));
        assertEquals(9, downloadBits(b, 16)[0], "nothing captured ran");
    }

    // ---- what capture forbids -----------------------------------------------------------------------------------

    /** Begins a capture with one recorded node, so that an invalidated capture visibly loses it. */
    private CUdeviceptr beginCapture(int mode) {
        CUdeviceptr p = alloc(16);
        ok(cuMemsetD32(p, 3, 4));
        ok(cuStreamBeginCapture(stream, mode));
        ok(cuMemsetD32Async(p, 5, 4, stream));
        return p;
    }

    /** The capture must be invalidated: later work on it fails, and ending it gives no graph. */
    private void assertInvalidated(CUdeviceptr p) {
        assertEquals(CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_INVALIDATED, status(stream));
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuMemsetD32Async(p, 6, 4, stream));
        CUgraph graph = new CUgraph();
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(stream, graph));
        assertEquals(new CUgraph(), graph, "no graph for an invalidated capture");
        assertEquals(CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_NONE, status(stream));
        assertEquals(3, downloadBits(p, 4)[0], "nothing captured ran");
    }

    @Test
    void synchronousCopiesAreRefusedAndInvalidateTheCapture() {
        CUdeviceptr p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemcpyHtoD(p, Pointer.to(new int[4]), 16));
        assertInvalidated(p);
        p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemcpyDtoH(Pointer.to(new int[4]), p, 16));
        assertInvalidated(p);
        p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemsetD32(p, 1, 4));
        assertInvalidated(p);
    }

    @Test
    void inRelaxedModeASynchronousCopyStillMeetsTheLegacyStream() {
        CUdeviceptr p = beginCapture(CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, cuMemcpyHtoD(p, Pointer.to(new int[4]), 16));
        assertInvalidated(p);
    }

    @Test
    void legacyStreamWorkIsRefusedWhileABlockingStreamCaptures() {
        CUdeviceptr p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, cuMemsetD32Async(p, 1, 4, new CUstream()));
        assertInvalidated(p);
        p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, cuStreamIsCapturing(new CUstream(), new int[1]));
        assertEquals(CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_ACTIVE, status(stream),
                "a query invalidates nothing");
        ok(cuStreamEndCapture(stream, new CUgraph()));
    }

    @Test
    void synchronizingTheCapturingStreamIsRefused() {
        CUdeviceptr p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuStreamSynchronize(stream));
        assertInvalidated(p);
        p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuStreamQuery(stream));
        assertInvalidated(p);
    }

    @Test
    void synchronizingTheContextIsRefused() {
        CUdeviceptr p = beginCapture(CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuCtxSynchronize());
        assertInvalidated(p);
        ok(cuCtxSynchronize());
    }

    @Test
    void anEventRecordedInTheCaptureCannotBeSynchronized() {
        CUevent e = new CUevent();
        ok(cuEventCreate(e, 0));
        CUdeviceptr p = beginCapture(GLOBAL);
        ok(cuEventRecord(e, stream));
        expect(CUresult.CUDA_ERROR_CAPTURED_EVENT, cuEventSynchronize(e));
        assertInvalidated(p);
        expect(CUresult.CUDA_ERROR_CAPTURED_EVENT, cuEventQuery(e));
        ok(cuEventRecord(e, stream));
        ok(cuEventSynchronize(e));
    }

    @Test
    void waitingOnAnEventFromOutsideTheCaptureIsRefused() {
        CUevent e = new CUevent();
        ok(cuEventCreate(e, 0));
        ok(cuEventRecord(e, stream));
        CUdeviceptr p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_ISOLATION, cuStreamWaitEvent(stream, e, 0));
        assertInvalidated(p);
    }

    @Test
    void allocationsFollowTheCaptureModes() throws InterruptedException {
        CUdeviceptr p = beginCapture(GLOBAL);
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemAlloc(new CUdeviceptr(), 16));
        assertInvalidated(p);

        // A GLOBAL capture forbids unsafe calls on other threads too; a THREAD_LOCAL one does not.
        p = beginCapture(GLOBAL);
        assertEquals(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, allocOnAnotherThread());
        assertInvalidated(p);
        p = beginCapture(CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        assertEquals(SUCCESS, allocOnAnotherThread());
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemAlloc(new CUdeviceptr(), 16));
        assertInvalidated(p);

        // This thread in RELAXED mode may allocate during its own capture.
        p = beginCapture(GLOBAL);
        int[] mode = {CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED};
        ok(cuThreadExchangeStreamCaptureMode(mode));
        assertEquals(GLOBAL, mode[0], "the previous mode comes back");
        CUdeviceptr q = new CUdeviceptr();
        ok(cuMemAlloc(q, 16));
        ok(cuMemFree(q));
        ok(cuThreadExchangeStreamCaptureMode(mode));
        CUgraph graph = new CUgraph();
        ok(cuStreamEndCapture(stream, graph));
        ok(cuGraphDestroy(graph));
    }

    private int allocOnAnotherThread() throws InterruptedException {
        AtomicInteger result = new AtomicInteger(-1);
        Thread t = new Thread(() -> {
            int r = cuCtxSetCurrent(ctx);
            if (r == SUCCESS) {
                CUdeviceptr q = new CUdeviceptr();
                r = cuMemAlloc(q, 16);
                if (r == SUCCESS) {
                    r = cuMemFree(q);
                }
            }
            result.set(r);
        });
        t.start();
        t.join();
        return result.get();
    }

    @Test
    void captureStateErrors() {
        expect(CUresult.CUDA_ERROR_ILLEGAL_STATE, cuStreamEndCapture(stream, new CUgraph()));
        expect(CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuStreamBeginCapture(new CUstream(), GLOBAL));
        ok(cuStreamBeginCapture(stream, GLOBAL));
        expect(CUresult.CUDA_ERROR_ILLEGAL_STATE, cuStreamBeginCapture(stream, GLOBAL));
        CUgraph empty = new CUgraph();
        ok(cuStreamEndCapture(stream, empty));
        CUgraphExec exec = new CUgraphExec();
        ok(cuGraphInstantiate(exec, empty, 0));
        StandIn.resetCounters();
        ok(cuGraphLaunch(exec, stream));
        assertEquals(1, StandIn.graphLaunches());
        ok(cuGraphDestroy(empty));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuGraphDestroy(empty));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuGraphInstantiate(new CUgraphExec(), empty, 0));
    }

    @Test
    void aReplayOverFreedMemoryFaultsAsOnADevice() {
        Step step = new Step(new float[N]);
        step.setGradient(new float[N]);
        CUgraphExec exec = captureAndInstantiate(step);
        ok(cuMemFree(step.m));
        expect(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, cuGraphLaunch(exec, stream));
        assertTrue(StandIn.lastError().contains("use after free"), StandIn::lastError);
        expect(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, cuCtxSynchronize());  // sticky, as a kernel fault is
    }
}
