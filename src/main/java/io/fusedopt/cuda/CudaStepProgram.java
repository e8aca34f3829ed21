package io.fusedopt.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamGetCtx;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.ScalarRows;
import io.fusedopt.backend.StepCounters;
import io.fusedopt.backend.StepOptions;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;

/**
 * One optimizer's step on CUDA, issued without waiting for the device. The chunk table, the tensor-to-group table
 * (after the step-control block, {@code step_control.cuh}) and the first-chunk table are uploaded once. A step is:
 * one asynchronous copy of the scalar window (the per-step scalars of every applied count the step may have), the
 * finite check or the gradient-norm pass, {@code step_decide} (skip or apply, clip coefficient, counts, loss scale,
 * the scalar row of the device's count), the rule's passes gated by the block, and an asynchronous copy of the
 * block back into pinned memory, which tells the host the count for later windows once its event has completed.
 *
 * <p>Every upload comes from pinned memory (a copy from pageable memory may make the driver wait). The host keeps at
 * most {@link #WINDOW} steps in flight: only when it is that far ahead of the device does it wait for the oldest.
 *
 * <p>Why the scalars always travel as one copy rather than as kernel parameters: every group's row goes down in the
 * same 100-odd bytes, so one kernel signature serves one group or many, and the copy is queued on the stream like
 * a launch, without waiting for the device.
 */
final class CudaStepProgram implements StepProgram {
    /**
     * Bytes of one {@code ChunkDesc}: {@code long long offset; int length; int tensor; unsigned long long w, g}, the
     * last two the caller's addresses of the chunk's first parameter and gradient (0 where the store holds them).
     */
    static final int CHUNK_DESC_BYTES = 32;
    /**
     * Steps the host may issue ahead of what it knows of the device's applied count, and so the rows of the scalar
     * window; also the number of pinned upload and read-back slots.
     */
    static final int WINDOW = 8;
    static final int SCALAR_SLOTS = WINDOW;

    private final CudaBackend backend;
    private final Rule rule;
    private final ArenaLayout layout;
    private final CudaBuffer params;
    private final CudaBuffer grads;
    private final List<CudaBuffer> slots;
    private final CudaBuffer slow;
    private final int chunks;
    private final int tensors;
    private final int scalarBytes;
    /**
     * Pinned host slots for the step scalars, used in turn. A copy from pageable memory may make the driver wait
     * for the device; from pinned memory it is a true asynchronous DMA, so the slot must not be rewritten until
     * the copy that reads it has run: each slot's event, recorded after its copy, says when. With
     * {@link #SCALAR_SLOTS} slots the host waits only when it is that many steps ahead of the device.
     */
    private final ByteBuffer[] hostSlots = new ByteBuffer[SCALAR_SLOTS];
    private final Pointer[] hostPointers = new Pointer[SCALAR_SLOTS];
    private final CUevent[] slotEvents = new CUevent[SCALAR_SLOTS];
    private final boolean[] slotInFlight = new boolean[SCALAR_SLOTS];
    private int nextSlot;
    /**
     * Pinned copies of the step-control block, one per step in flight, each filled by an asynchronous copy after
     * its step and complete when its event is.
     */
    private final ByteBuffer[] readSlots = new ByteBuffer[SCALAR_SLOTS];
    private final Pointer[] readPointers = new Pointer[SCALAR_SLOTS];
    private final CUevent[] readEvents = new CUevent[SCALAR_SLOTS];
    /**
     * A pinned 0, copied over the block's {@code halted} to lift a halt (a pinned source, so the copy is queued
     * like a launch); never rewritten.
     */
    private Pointer haltClear;
    /** A halt seen in a read-back and not yet taken: the skipped step's number and its issue index. */
    private long haltStep;
    private long haltIssue = -1;
    /** Steps issued, and what the host last learnt of the device's counts: as of {@code knownIssued} steps. */
    private long issued;
    private long knownIssued;
    private long knownApplied;
    private StepOptions options;
    /**
     * Tests only: take in a completed read-back only when the window is full, as on a GPU that runs
     * {@link #WINDOW} steps behind the host. The stand-in completes every copy at once, so without this the window
     * would always hold one row.
     */
    boolean lagging;
    private java.util.List<Launch> launches;
    /** The stream of the last step, and the caller's stream when the step ran on one (see {@link #step}). */
    private CUstream stepStream;
    private CUevent orderEvent;
    private CUevent callerEvent;
    /** The graph of one step ({@link #capture}), or null; and the buffer addresses its launches hold. */
    private CUgraphExec graph;
    private long[] graphBuffers;
    private final List<DevicePointer> owned = new ArrayList<>();
    private final DevicePointer chunkTable;
    private final CUdeviceptr groupTable;
    private final DevicePointer firstChunk;
    private final DevicePointer scalars;
    /** The step-control block and, {@link StepControlBlock#BYTES} after it, the tensor-to-group table. */
    private final DevicePointer control;
    /** The scalar window: a header and {@link #WINDOW} rows of {@link #scalarBytes}. */
    private final DevicePointer window;
    private final int windowBytes;
    private final DevicePointer partials;
    private final DevicePointer tensorState;
    /** The rule's tensor geometry table and step scratch ({@link Rule#tensorGeometryWidth()}); null without. */
    private final DevicePointer geometry;
    private final DevicePointer scratch;
    private final int totalWork;
    /** Muon: the Newton–Schulz job table, its job count and the tiles of each stage; null and 0 otherwise. */
    private final DevicePointer nsJobs;
    private final int nsJobCount;
    private final int[] nsTiles;
    /** Muon with cuBLAS products: the cuBLAS handle's owner; null otherwise. */
    private MuonCublas cublas;
    private boolean closed;
    /** The storage regime, the suffix of every entry this program launches ({@link Kernel#REGIMES}). */
    private final String regime;
    /** The model copy of a master regime, or null. */
    private final CudaBuffer model;
    private final boolean stochastic;
    private final long seed;

    CudaStepProgram(CudaBackend backend, Rule rule, ArenaLayout layout, CudaBuffer params, CudaBuffer grads,
            List<CudaBuffer> slots, CudaBuffer slow) {
        this(backend, rule, layout, params, grads, slots, slow, io.fusedopt.backend.Precision.PLAIN);
    }

    /**
     * As above with the buffers' storage types checked: the kernels here run the float32 regime only.
     *
     * @throws IllegalArgumentException naming the regime when it is not float32
     */
    CudaStepProgram(CudaBackend backend, Rule rule, ArenaLayout layout, CudaBuffer params, CudaBuffer grads,
            List<CudaBuffer> slots, CudaBuffer slow, io.fusedopt.backend.Precision precision) {
        this.regime = precision.regime(params.dtype(), grads.dtype(), slots.stream().map(CudaBuffer::dtype)
                .toList(), slow == null ? null : slow.dtype());
        rule.checkRegime(regime);
        this.model = (CudaBuffer) precision.modelCopy();
        this.stochastic = precision.stochastic();
        this.seed = precision.seed();
        this.backend = backend;
        this.rule = rule;
        this.layout = layout;
        this.params = params;
        this.grads = grads;
        this.slots = List.copyOf(slots);
        this.slow = slow;
        this.chunks = layout.chunkCount();
        this.tensors = layout.tensors().size();
        validate();
        int floatBytes = rule.scalarCount() * layout.groupCount() * Float.BYTES;
        int floatPadded = (floatBytes + 7) & ~7;
        this.scalarBytes = floatPadded + rule.finishScalarCount() * layout.groupCount() * Double.BYTES;
        backend.makeCurrent();
        try {
            chunkTable = upload(encodeChunks(layout, callerAddresses(params), callerAddresses(grads)),
                    "the chunk table");
            ByteBuffer tables = ByteBuffer.allocate(StepControlBlock.BYTES + tensors * Integer.BYTES)
                    .order(ByteOrder.LITTLE_ENDIAN);
            tables.position(StepControlBlock.BYTES);
            tables.put(ints(layout.groups()));
            control = upload(tables.flip(), "the step-control block and the tensor-to-group table");
            groupTable = control.withByteOffset(StepControlBlock.BYTES);
            int[] first = new int[tensors + 1];
            for (int t = 0; t <= tensors; t++) {
                first[t] = layout.firstChunk(t);
            }
            firstChunk = upload(ints(first), "the first-chunk table");
            this.windowBytes = StepControlBlock.WINDOW_HEADER_BYTES + WINDOW * scalarBytes;
            for (int i = 0; i < SCALAR_SLOTS; i++) {
                Pointer p = new Pointer();
                Driver.check(cuMemAllocHost(p, windowBytes), "allocating pinned memory for the step scalars ("
                        + windowBytes + " bytes)");
                hostPointers[i] = p;
                hostSlots[i] = p.getByteBuffer(0, windowBytes).order(ByteOrder.LITTLE_ENDIAN);
                CUevent e = new CUevent();
                Driver.check(cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING), "creating a scalar-slot event");
                slotEvents[i] = e;
                Pointer r = new Pointer();
                Driver.check(cuMemAllocHost(r, StepControlBlock.BYTES), "allocating pinned memory for the step"
                        + " read-back (" + StepControlBlock.BYTES + " bytes)");
                readPointers[i] = r;
                readSlots[i] = r.getByteBuffer(0, StepControlBlock.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                CUevent re = new CUevent();
                Driver.check(cuEventCreate(re, CUevent_flags.CU_EVENT_DISABLE_TIMING), "creating a read-back event");
                readEvents[i] = re;
            }
            scalars = alloc(Math.max(8, scalarBytes), "the step scalars");
            window = alloc(windowBytes, "the scalar window");
            partials = rule.reduction() == Rule.Reduction.NONE ? null
                    : alloc(2L * chunks * Float.BYTES, "the reduction partials");
            if (partials != null) {
                // A skipped first step leaves the norm pass's partials unwritten, and lamb_finalize still reads
                // them: zeros give the trust ratio 1, the value the CPU backend starts from.
                Driver.check(cuMemsetD32(partials, 0, 2L * chunks), "clearing the reduction partials");
            }
            tensorState = rule.tensorStateWidth() == 0 ? null
                    : alloc((long) tensors * rule.tensorStateWidth() * Double.BYTES, "the per-tensor state");
            if (tensorState != null) {
                double[] init = new double[tensors * rule.tensorStateWidth()];
                for (int t = 0; t < tensors; t++) {
                    System.arraycopy(rule.tensorStateInit(layout.group(t)), 0, init, t * rule.tensorStateWidth(),
                            rule.tensorStateWidth());
                }
                writeTensorState(init);
            }
            if (rule.tensorGeometryWidth() > 0) {
                long[] geo = io.fusedopt.backend.ShapedSlots.geometry(rule, layout);
                ByteBuffer gb = ByteBuffer.allocate(geo.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (long x : geo) {
                    gb.putLong(x);
                }
                geometry = upload(gb.flip(), "the tensor geometry");
                long sl = io.fusedopt.backend.ShapedSlots.scratchOffsets(rule, layout)[tensors];
                scratch = alloc(Math.max(1, sl) * Float.BYTES, "the step scratch");
                long work = io.fusedopt.backend.ShapedSlots.totalWork(rule, geo);
                if (work > Integer.MAX_VALUE / 32) {
                    throw new IllegalArgumentException(rule.id() + " needs " + work + " warps for its statistics,"
                            + " more than one launch holds");
                }
                totalWork = (int) work;
            } else {
                geometry = null;
                scratch = null;
                totalWork = 0;
            }
            if (rule instanceof io.fusedopt.rule.Muon muon) {
                long[] geo = io.fusedopt.backend.ShapedSlots.geometry(rule, layout);
                long[] jobs = io.fusedopt.rule.Muon.nsJobs(geo, rule.tensorGeometryWidth(), layout.groups());
                int n = (jobs.length - io.fusedopt.rule.Muon.STAGES) / io.fusedopt.rule.Muon.JOB_WIDTH;
                int[] tiles = new int[io.fusedopt.rule.Muon.STAGES];
                for (int st = 0; st < tiles.length; st++) {
                    long total = jobs[n * io.fusedopt.rule.Muon.JOB_WIDTH + st];
                    if (total > Integer.MAX_VALUE) {
                        throw new IllegalArgumentException("muon needs " + total + " tiles in Newton-Schulz stage "
                                + st + ", more than one launch holds");
                    }
                    tiles[st] = (int) total;
                }
                ByteBuffer jb = ByteBuffer.allocate(Math.max(8, jobs.length * Long.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
                for (long x : jobs) {
                    jb.putLong(x);
                }
                jb.position(0).limit(jobs.length * Long.BYTES);
                nsJobs = upload(jb, "the Newton-Schulz job table");
                nsJobCount = n;
                nsTiles = tiles;
                cublas = muon.cublas() ? MuonCublas.open(backend, geo, rule, layout.groups()) : null;
            } else {
                nsJobs = null;
                nsJobCount = 0;
                nsTiles = null;
                cublas = null;
            }
        } catch (RuntimeException e) {
            freeOwned();
            throw e;
        }
        backend.track(this);
    }

    /** Refuses buffers whose sizes do not cover the layout, so no launch can reach outside an allocation. */
    private void validate() {
        long need = layout.totalElements();
        List<CudaBuffer> all = new ArrayList<>();
        for (int s = 0; s < slots.size(); s++) {
            if (rule.slotShaped(s)) {
                long own = io.fusedopt.backend.ShapedSlots.layout(rule, s, layout).totalElements();
                if (slots.get(s).elements() < own) {
                    throw new IllegalArgumentException("a buffer of " + slots.get(s).elements() + " elements cannot"
                            + " hold slot " + rule.slots().get(s) + " of " + own);
                }
            } else {
                all.add(slots.get(s));
            }
        }
        if (slow != null) {
            all.add(slow);
        }
        for (CudaBuffer b : all) {
            if (b.elements() < need) {
                throw new IllegalArgumentException("a buffer of " + b.elements() + " elements cannot hold an arena of "
                        + need);
            }
        }
        // The parameter and gradient buffers hold only the store's own tensors; the rest are the caller's.
        for (CudaBuffer b : List.of(params, grads)) {
            for (Tensor t : layout.tensors()) {
                if (!b.covers(t)) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "' at " + t.offset() + " (+"
                            + t.length() + ") lies outside a buffer of " + b.elements() + " elements");
                }
            }
        }
        // The parameter and gradient buffers hold only the store's own tensors; the rest are the caller's.
        for (CudaBuffer b : List.of(params, grads)) {
            for (Tensor t : layout.tensors()) {
                if (!b.covers(t)) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "' at " + t.offset() + " (+"
                            + t.length() + ") lies outside a buffer of " + b.elements() + " elements");
                }
            }
        }
        if (slots.size() != rule.slots().size()) {
            throw new IllegalArgumentException(rule.id() + " needs " + rule.slots().size() + " state buffers, got "
                    + slots.size());
        }
        for (Tensor t : layout.tensors()) {
            if (t.offset() % LaunchConfig.ALIGN != 0 || t.offset() + t.length() > need) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' at " + t.offset() + " (+" + t.length()
                        + ") is misaligned or outside the arena of " + need);
            }
        }
    }

    /** The chunk table of an arena whose tensors all live in the store's buffers. */
    static ByteBuffer encodeChunks(ArenaLayout layout) {
        int n = layout.tensors().size();
        return encodeChunks(layout, new long[n], new long[n]);
    }

    /**
     * The chunk table as the kernels read it: per chunk the absolute arena offset (64-bit, where the state slots
     * hold it), the length, the tensor, and the caller's device addresses of the chunk's first parameter and
     * gradient, from {@code w[t]} and {@code g[t]} per tensor (0: the store's buffer holds it, at the arena offset).
     */
    static ByteBuffer encodeChunks(ArenaLayout layout, long[] w, long[] g) {
        ByteBuffer b = ByteBuffer.allocate(layout.chunkCount() * CHUNK_DESC_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int c = 0; c < layout.chunkCount(); c++) {
            int ti = layout.chunkTensor(c);
            Tensor t = layout.tensors().get(ti);
            long start = layout.chunkStart(c);
            b.putLong(t.offset() + start);
            b.putInt(layout.chunkLength(c));
            b.putInt(ti);
            b.putLong(w[ti] == 0 ? 0 : w[ti] + start * Float.BYTES);
            b.putLong(g[ti] == 0 ? 0 : g[ti] + start * Float.BYTES);
        }
        return b.flip();
    }

    private long[] callerAddresses(CudaBuffer b) {
        long[] a = new long[tensors];
        for (int t = 0; t < tensors; t++) {
            a[t] = b.callerAddress(t);
        }
        return a;
    }

    private static ByteBuffer ints(int[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) {
            b.putInt(x);
        }
        return b.flip();
    }

    private DevicePointer alloc(long bytes, String what) {
        DevicePointer p = new DevicePointer();
        Driver.check(cuMemAlloc(p, bytes), "allocating " + what + " (" + bytes + " bytes)");
        owned.add(p);
        return p;
    }

    private DevicePointer upload(ByteBuffer data, String what) {
        DevicePointer p = alloc(Math.max(4, data.remaining()), what);
        if (data.remaining() > 0) {
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            Driver.check(cuMemcpyHtoD(p, Pointer.to(bytes), bytes.length), "uploading " + what);
        }
        return p;
    }

    /**
     * The update entry's arguments ({@code tensorState} for LAMB and SWATS, {@code partials} for SWATS, otherwise
     * null); static so the signature test can build them without a device.
     */
    static KernelArgs updateArgs(Kernel k, CUdeviceptr w, CUdeviceptr g, List<CUdeviceptr> slots, CUdeviceptr chunks,
            int numChunks, CUdeviceptr groups, CUdeviceptr scalars, CUdeviceptr flag, CUdeviceptr tensorState,
            CUdeviceptr partials, CUdeviceptr slow, float alpha) {
        return updateArgs(k, w, g, slots, chunks, numChunks, groups, scalars, flag, tensorState, partials, null, null,
                slow, alpha);
    }

    /** As above, with a rule's tensor geometry and step scratch (both null for rules without them). */
    static KernelArgs updateArgs(Kernel k, CUdeviceptr w, CUdeviceptr g, List<CUdeviceptr> slots, CUdeviceptr chunks,
            int numChunks, CUdeviceptr groups, CUdeviceptr scalars, CUdeviceptr flag, CUdeviceptr tensorState,
            CUdeviceptr partials, CUdeviceptr geometry, CUdeviceptr scratch, CUdeviceptr slow, float alpha) {
        KernelArgs a = new KernelArgs().ptr(w).ptr(g);
        for (CUdeviceptr s : slots) {
            a.ptr(s);
        }
        a.ptr(chunks).i32(numChunks).ptr(groups).ptr(scalars).ptr(flag);
        if (tensorState != null) {
            a.ptr(tensorState);
        }
        if (partials != null) {
            a.ptr(partials);
        }
        if (geometry != null) {
            a.ptr(geometry).ptr(scratch);
        }
        if (k.lookahead()) {
            a.ptr(slow).f32(alpha);
        }
        return a;
    }

    /** One Newton–Schulz stage's arguments ({@link Kernel#orthogonalize}). */
    static KernelArgs nsArgs(Pointers p, int stage, int parity, int tiles) {
        return new KernelArgs().ptr(p.scratch()).ptr(p.jobs()).i32(p.numJobs()).ptr(p.scalars())
                .ptr(p.tensorState()).ptr(p.flag()).i32(stage).i32(parity).i32(tiles);
    }

    /** A per-tensor pass's arguments ({@link Kernel#tensorPass}). */
    static KernelArgs tensorPassArgs(Pointers p) {
        KernelArgs a = new KernelArgs().ptr(p.w()).ptr(p.g());
        for (CUdeviceptr s : p.slots()) {
            a.ptr(s);
        }
        return a.ptr(p.groups()).i32(p.tensors()).ptr(p.scalars()).ptr(p.finishScalars()).ptr(p.flag())
                .ptr(p.geometry()).ptr(p.scratch()).i32(p.totalWork());
    }

    /** A norm entry's arguments ({@link Kernel#norm}). */
    static KernelArgs normArgs(CUdeviceptr w, CUdeviceptr g, List<CUdeviceptr> slots, CUdeviceptr chunks,
            int numChunks, CUdeviceptr groups, CUdeviceptr scalars, CUdeviceptr flag, CUdeviceptr partials) {
        KernelArgs a = new KernelArgs().ptr(w).ptr(g);
        for (CUdeviceptr s : slots) {
            a.ptr(s);
        }
        return a.ptr(chunks).i32(numChunks).ptr(groups).ptr(scalars).ptr(flag).ptr(partials);
    }

    /** A finalize entry's arguments ({@link Kernel#finish}); {@code finishScalars} null for the short form. */
    static KernelArgs finishArgs(CUdeviceptr partials, int numChunks, CUdeviceptr firstChunk, CUdeviceptr groups,
            int numTensors, CUdeviceptr finishScalars, CUdeviceptr flag, CUdeviceptr tensorState) {
        if (finishScalars == null) {
            return new KernelArgs().ptr(partials).i32(numChunks).ptr(firstChunk).i32(numTensors).ptr(flag)
                    .ptr(tensorState);
        }
        return new KernelArgs().ptr(partials).i32(numChunks).ptr(firstChunk).ptr(groups).i32(numTensors)
                .ptr(finishScalars).ptr(flag).ptr(tensorState);
    }

    /** {@code finite_check_f32}'s arguments. */
    static KernelArgs finiteArgs(CUdeviceptr g, CUdeviceptr chunks, int numChunks, CUdeviceptr flag) {
        return new KernelArgs().ptr(g).ptr(chunks).i32(numChunks).ptr(flag);
    }

    /** {@code lookahead_init_f32}'s arguments. */
    static KernelArgs lookaheadInitArgs(CUdeviceptr w, CUdeviceptr slow, CUdeviceptr chunks, int numChunks,
            CUdeviceptr flag) {
        return new KernelArgs().ptr(w).ptr(slow).ptr(chunks).i32(numChunks).ptr(flag);
    }

    /** One launch of a step: the entry, its grid and its arguments, built once when the program is configured. */
    record Launch(Kernel kernel, int grid, KernelArgs args, Runnable call) {
        /** A kernel launch. */
        Launch(Kernel kernel, int grid, KernelArgs args) {
            this(kernel, grid, args, null);
        }

        /** Work queued by a library call rather than a launch (Muon's cuBLAS products, on the backend's stream). */
        static Launch call(Runnable call) {
            return new Launch(null, 0, null, call);
        }
    }

    @Override
    public void configure(StepOptions o) {
        if (options != null) {
            throw new IllegalStateException("the step program is already configured");
        }
        backend.makeCurrent();
        DevicePointer norm = o.clips() ? alloc((long) Math.max(1, chunks) * Float.BYTES, "the gradient-norm partials")
                : null;
        ByteBuffer block = ByteBuffer.allocate(StepControlBlock.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        StepControlBlock.init(block, o);
        Driver.check(cuMemcpyHtoD(control, Pointer.to(block.array()), StepControlBlock.BYTES),
                "writing the step-control block");
        if (o.haltOnSkip()) {
            Pointer zero = new Pointer();
            Driver.check(cuMemAllocHost(zero, Integer.BYTES), "allocating pinned memory for lifting a halt");
            haltClear = zero;
            zero.getByteBuffer(0, Integer.BYTES).putInt(0, 0);
        }
        this.options = o;
        this.launches = plan(o, norm);
        this.stepStream = backend.stream();
    }

    /**
     * The launches of every step, the same for every step (so that a graph of one step replays any later one):
     * the finite check or the norm pass, the decision, Lookahead's first copy, the rule's passes, and with Lookahead
     * both update entries, each gated by the block so that exactly one of them runs.
     */
    private java.util.List<Launch> plan(StepOptions o, DevicePointer norm) {
        java.util.List<Launch> out = new ArrayList<>();
        List<CUdeviceptr> slotPointers = new ArrayList<>();
        for (CudaBuffer s : slots) {
            slotPointers.add(s.pointer());
        }
        int k = rule.scalarCount() * layout.groupCount();
        int f = rule.finishScalarCount() * layout.groupCount();
        Pointers base = new Pointers(params.pointer(), grads.pointer(), slotPointers,
                slow == null ? null : slow.pointer(), chunkTable, chunks, groupTable, scalars,
                f == 0 ? null : scalars.withByteOffset((k * Float.BYTES + 7) & ~7),
                control.withByteOffset(StepControlBlock.SKIP), partials, tensorState, firstChunk, tensors, geometry,
                scratch, totalWork, nsJobs, nsJobCount);
        Tail tail = new Tail(model == null ? null : model.pointer(), stochastic, seed);
        if (o.clips()) {
            out.add(new Launch(Kernel.gradNorm(regime), chunks, gradNormArgs(grads.pointer(), chunkTable, chunks,
                    control, norm)));
        } else if (o.skips()) {
            out.add(new Launch(Kernel.finiteCheck(regime), chunks, finiteArgs(grads.pointer(), chunkTable, chunks,
                    control.withByteOffset(StepControlBlock.FOUND))));
        }
        out.add(new Launch(Kernel.STEP_DECIDE, 1, decideArgs(control, norm == null ? partialsOrControl() : norm,
                chunks, window, scalars)));
        boolean la = o.lookaheadK() > 0;
        if (la) {
            StepPlan.Pass init = new StepPlan.Pass(StepPlan.Kind.LOOKAHEAD_INIT, false, false);
            Kernel copy = Kernel.lookaheadInit(regime);
            out.add(new Launch(copy, chunks, args(copy, init,
                    base.gatedBy(control.withByteOffset(StepControlBlock.SKIP_LOOKAHEAD_INIT)), o.lookaheadAlpha())));
        }
        for (StepPlan.Pass pass : StepPlan.of(rule, false, false, false).passes()) {
            if (pass.kind() == StepPlan.Kind.ORTHOGONALIZE) {
                orthogonalize(Kernel.of(rule, pass, regime), base, out);
                continue;
            }
            int grid = switch (pass.kind()) {
                case FINISH -> blocksFor(tensors);
                // One warp per work unit (a statistic, or 32 unfactored elements) and one warp per tensor.
                case FACTOR_STATS -> blocksFor((int) Math.min(Integer.MAX_VALUE / 2, (long) totalWork * 32));
                case FACTOR_SCALES -> blocksFor(tensors * 32);
                default -> chunks;
            };
            if (pass.kind() == StepPlan.Kind.UPDATE && la) {
                Kernel plain = Kernel.of(rule, pass, regime);
                out.add(new Launch(plain, grid, args(plain, pass,
                        base.gatedBy(control.withByteOffset(StepControlBlock.SKIP_PLAIN_UPDATE)), o.lookaheadAlpha(),
                        tail)));
                StepPlan.Pass sync = new StepPlan.Pass(StepPlan.Kind.UPDATE, pass.sums(), true);
                Kernel synced = Kernel.of(rule, sync, regime);
                out.add(new Launch(synced, grid, args(synced, sync,
                        base.gatedBy(control.withByteOffset(StepControlBlock.SKIP_SYNC_UPDATE)), o.lookaheadAlpha(),
                        tail)));
            } else {
                Kernel kernel = Kernel.of(rule, pass, regime);
                out.add(new Launch(kernel, grid, args(kernel, pass, base, o.lookaheadAlpha(), tail)));
            }
        }
        return java.util.List.copyOf(out);
    }

    /** step_decide reads the norm partials only when clipping; without clipping any valid pointer will do. */
    private CUdeviceptr partialsOrControl() {
        return control;
    }

    /** {@code grad_norm_f32}'s arguments. */
    static KernelArgs gradNormArgs(CUdeviceptr g, CUdeviceptr chunks, int numChunks, CUdeviceptr control,
            CUdeviceptr normPartials) {
        return new KernelArgs().ptr(g).ptr(chunks).i32(numChunks).ptr(control).ptr(normPartials);
    }

    /** {@code step_decide}'s arguments. */
    static KernelArgs decideArgs(CUdeviceptr control, CUdeviceptr normPartials, int numChunks, CUdeviceptr window,
            CUdeviceptr scalars) {
        return new KernelArgs().ptr(control).ptr(normPartials).i32(numChunks).ptr(window).ptr(scalars);
    }

    private void launch(Launch l, CUstream stream) {
        if (l.call() != null) {
            l.call().run();
            return;
        }
        Kernel k = l.kernel();
        Driver.check(cuLaunchKernel(backend.modules().function(k), l.grid(), 1, 1, LaunchConfig.BLOCK, 1, 1, 0,
                stream, l.args().toKernelParams(k), null), "launching " + k.entry() + " on " + l.grid() + " blocks");
    }

    private static int blocksFor(int threads) {
        return Math.max(1, (threads + LaunchConfig.BLOCK - 1) / LaunchConfig.BLOCK);
    }

    @Override
    public void step(ScalarRows rows) {
        step(rows, null);
    }

    /**
     * Issues one step on {@code callerStream}, or on the backend's stream when it is null. The step then starts after
     * everything queued before it on that stream (the caller's backward pass) and everything fusedopt issued before
     * (earlier steps, gradient and parameter copies), and what fusedopt issues later waits for it, all through
     * events on the device: the host never waits.
     *
     * @throws IllegalArgumentException when {@code callerStream} belongs to another context than the device's
     */
    @Override
    public void step(ScalarRows rows, Object callerStream) {
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        if (options == null) {
            throw new IllegalStateException("the step program is not configured");
        }
        backend.makeCurrent();
        CUstream stream = callerStream == null ? backend.stream() : checkStream(callerStream);
        if (cublas != null && stream != backend.stream()) {
            throw new IllegalArgumentException("Muon's cuBLAS products (cublas=true) run on the optimizer's own"
                    + " stream, so a step cannot go on the caller's stream " + stream + "; use the deterministic"
                    + " products (cublas=false). Nothing was launched");
        }
        if (graph != null) {
            checkGraphBuffers();
        }
        pollReadBacks();
        while (issued - knownIssued >= WINDOW) {
            waitOldestReadBack();
        }
        int slot = nextSlot;
        waitForSlot(slot);
        ByteBuffer host = hostSlots[slot];
        try {
            fillWindow(host, rows);
        } catch (IllegalStateException e) {
            if (issued == knownIssued) {
                throw e;
            }
            // A count the window may need is refused: learn the device's exact count, then refuse or go on.
            drainReadBacks();
            fillWindow(host, rows);
        }
        nextSlot = (nextSlot + 1) % SCALAR_SLOTS;
        if (stream != backend.stream()) {
            // The caller's stream first waits for what fusedopt queued on its own stream.
            Driver.check(cuEventRecord(orderEvent(), backend.stream()), "recording the order of fusedopt's stream");
            Driver.check(cuStreamWaitEvent(stream, orderEvent, 0), "ordering the caller's stream after fusedopt's");
        }
        Driver.check(cuMemcpyHtoDAsync(window, hostPointers[slot], windowBytes, stream), "queueing the scalar window");
        Driver.check(cuEventRecord(slotEvents[slot], stream), "recording the scalar copy's event");
        slotInFlight[slot] = true;
        stepStream = stream;
        if (graph != null) {
            Driver.check(cuGraphLaunch(graph, stream), "launching the captured step graph");
        } else {
            for (Launch l : launches) {
                launch(l, stream);
            }
        }
        int r = (int) (issued % SCALAR_SLOTS);
        Driver.check(cuMemcpyDtoHAsync(readPointers[r], control, StepControlBlock.BYTES, stream),
                "queueing the read-back of the step's counts");
        Driver.check(cuEventRecord(readEvents[r], stream), "recording the read-back's event");
        issued++;
        if (stream != backend.stream()) {
            // Later copies of parameters and gradients, on fusedopt's stream, wait for this step.
            Driver.check(cuEventRecord(callerEvent(), stream), "recording the step on the caller's stream");
            Driver.check(cuStreamWaitEvent(backend.stream(), callerEvent, 0),
                    "ordering fusedopt's stream after the step");
        }
    }

    private CUevent orderEvent() {
        if (orderEvent == null) {
            CUevent e = new CUevent();
            Driver.check(cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING), "creating a stream-order event");
            orderEvent = e;
        }
        return orderEvent;
    }

    private CUevent callerEvent() {
        if (callerEvent == null) {
            CUevent e = new CUevent();
            Driver.check(cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING), "creating a stream-order event");
            callerEvent = e;
        }
        return callerEvent;
    }

    @Override
    public void capture() {
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        if (options == null) {
            throw new IllegalStateException("the step program is not configured");
        }
        if (cublas != null) {
            throw new IllegalStateException("Muon's cuBLAS products (cublas=true) are not captured into the step"
                    + " graph; use the deterministic products (cublas=false) to capture");
        }
        backend.makeCurrent();
        long[] buffers = bufferAddresses();
        CUstream s = backend.stream();
        // THREAD_LOCAL: only this thread's calls that a capture forbids are refused meanwhile, and it makes none.
        Driver.check(cuStreamBeginCapture(s, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "beginning the capture of a step");
        CUgraph g = new CUgraph();
        try {
            for (Launch l : launches) {
                launch(l, s);
            }
        } catch (RuntimeException e) {
            if (cuStreamEndCapture(s, g) == CUresult.CUDA_SUCCESS) {
                cuGraphDestroy(g);
            }
            throw e;
        }
        Driver.check(cuStreamEndCapture(s, g), "ending the capture of a step");
        CUgraphExec exec = new CUgraphExec();
        try {
            Driver.check(cuGraphInstantiate(exec, g, 0), "instantiating the step graph");
        } finally {
            cuGraphDestroy(g);
        }
        releaseGraph();
        graph = exec;
        graphBuffers = buffers;
    }

    @Override
    public void releaseGraph() {
        if (graph != null) {
            CUgraphExec g = graph;
            graph = null;
            graphBuffers = null;
            backend.releaseQuietly(() -> cuGraphExecDestroy(g));
        }
    }

    @Override
    public boolean captured() {
        return graph != null;
    }

    /** The addresses of the arena buffers a step reads and writes; throws naming a closed one. */
    private long[] bufferAddresses() {
        List<CudaBuffer> all = new ArrayList<>(List.of(params, grads));
        all.addAll(slots);
        if (slow != null) {
            all.add(slow);
        }
        long[] out = new long[all.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((DevicePointer) all.get(i).pointer()).address();
        }
        return out;
    }

    /** Refuses to replay a graph whose buffers were closed or replaced since it was captured. */
    private void checkGraphBuffers() {
        long[] now;
        try {
            now = bufferAddresses();
        } catch (IllegalStateException e) {
            throw new IllegalStateException("the captured step graph cannot be replayed: " + e.getMessage()
                    + "; nothing was launched", e);
        }
        if (!java.util.Arrays.equals(now, graphBuffers)) {
            throw new IllegalStateException("the captured step graph holds buffers the store no longer has (they"
                    + " were reallocated since capture()); call capture() again. Nothing was launched");
        }
    }

    /** The caller's stream, once it is known to belong to this device's context. */
    private CUstream checkStream(Object s) {
        if (!(s instanceof CUstream stream)) {
            throw new IllegalArgumentException("stream must be a jcuda.driver.CUstream, got "
                    + s.getClass().getName());
        }
        jcuda.driver.CUcontext ctx = new jcuda.driver.CUcontext();
        int rc = cuStreamGetCtx(stream, ctx);
        if (rc != CUresult.CUDA_SUCCESS) {
            throw new IllegalArgumentException("stream " + stream + " is not a valid stream ("
                    + CUresult.stringFor(rc) + ")");
        }
        if (!backend.isContext(ctx)) {
            throw new IllegalArgumentException("stream " + stream + " belongs to another CUDA context than the"
                    + " optimizer's device (" + backend.description() + "); step on a stream of that device's"
                    + " primary context");
        }
        return stream;
    }

    /** Waits for the copy that last read pinned upload slot {@code slot}; only when the host is far ahead. */
    private void waitForSlot(int slot) {
        if (slotInFlight[slot]) {
            int q = cuEventQuery(slotEvents[slot]);
            if (q != CUresult.CUDA_SUCCESS) {
                Driver.check(q == CUresult.CUDA_ERROR_NOT_READY ? cuEventSynchronize(slotEvents[slot]) : q,
                        "waiting for the copy of an earlier step's scalars");
            }
            slotInFlight[slot] = false;
        }
    }

    /**
     * Writes the window for the counts this step may have: from the last count the host knows + 1, one row per
     * step still in flight beyond it. Throws, having changed nothing on the device, when a row is refused.
     */
    private void fillWindow(ByteBuffer host, ScalarRows rows) {
        int k = rule.scalarCount() * layout.groupCount();
        int f = rule.finishScalarCount() * layout.groupCount();
        int n = (int) (issued - knownIssued) + 1;
        float[] sc = new float[k];
        double[] fs = new double[f];
        host.clear();
        host.putLong(0, knownApplied + 1);
        host.putInt(8, n);
        host.putInt(12, scalarBytes / Integer.BYTES);
        for (int row = 0; row < n; row++) {
            rows.fill(knownApplied + 1 + row, sc, fs);
            int at = StepControlBlock.WINDOW_HEADER_BYTES + row * scalarBytes;
            for (int i = 0; i < k; i++) {
                host.putFloat(at + i * Float.BYTES, sc[i]);
            }
            int d = at + ((k * Float.BYTES + 7) & ~7);
            for (int i = 0; i < f; i++) {
                host.putDouble(d + i * Double.BYTES, fs[i]);
            }
        }
    }

    /**
     * What an update entry of a non-float32 regime takes last: the model copy (master regimes) or the stochastic
     * rounding seed (the step number its bits depend on is the device's applied count, read from the step-control
     * block, so a graph of the step stays valid).
     *
     * @param model the model copy, or null
     * @param stochastic whether the seed follows
     * @param seed the stochastic rounding seed
     */
    record Tail(CUdeviceptr model, boolean stochastic, long seed) {
        /** Nothing: the float32 and low-precision regimes. */
        static final Tail NONE = new Tail(null, false, 0L);

        KernelArgs append(KernelArgs a) {
            if (model != null) {
                a.ptr(model);
            }
            if (stochastic) {
                a.u64(seed);
            }
            return a;
        }
    }

    /** Takes in every read-back whose copy has completed, without waiting. */
    private void pollReadBacks() {
        while (knownIssued < issued && !lagging) {
            int r = (int) (knownIssued % SCALAR_SLOTS);
            int q = cuEventQuery(readEvents[r]);
            if (q == CUresult.CUDA_ERROR_NOT_READY) {
                return;
            }
            Driver.check(q, "querying a step's read-back");
            takeReadBack(r);
        }
    }

    private void waitOldestReadBack() {
        int r = (int) (knownIssued % SCALAR_SLOTS);
        Driver.check(cuEventSynchronize(readEvents[r]), "waiting for the step " + WINDOW + " steps back");
        takeReadBack(r);
    }

    private void drainReadBacks() {
        while (knownIssued < issued) {
            waitOldestReadBack();
        }
    }

    private void takeReadBack(int r) {
        ByteBuffer b = readSlots[r];
        if (StepControlBlock.windowMissed(b)) {
            throw new IllegalStateException("a step found no scalars for its count on the device (the host's"
                    + " window started at " + (knownApplied + 1) + "); the step was not applied");
        }
        knownApplied = b.getLong(StepControlBlock.APPLIED);
        if (StepControlBlock.halted(b) == 1) {
            // This step was the one skipped (the steps after it count on from 2 until the halt is lifted).
            haltStep = knownApplied + 1;
            haltIssue = knownIssued;
        }
        knownIssued++;
    }

    /** Waits for every step issued so far, on the caller's stream and fusedopt's. */
    private void awaitSteps() {
        backend.makeCurrent();
        Driver.check(cuStreamSynchronize(stepStream()), "waiting for the steps issued");
        Driver.check(cuStreamSynchronize(backend.stream()), "waiting for the steps issued");
    }

    /** The block as the device holds it after every step issued so far; waits for them. */
    private ByteBuffer readBlock() {
        awaitSteps();
        byte[] bytes = new byte[StepControlBlock.BYTES];
        Driver.check(cuMemcpyDtoH(Pointer.to(bytes), control, bytes.length), "reading the step-control block");
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        drainReadBacks();
        return b;
    }

    private CUstream stepStream() {
        return stepStream == null ? backend.stream() : stepStream;
    }
    /**
     * The device buffers and counts a step's launches read; {@code slow}, {@code finishScalars}, {@code partials}
     * and {@code tensorState} are null where the optimizer has none.
     */
    record Pointers(CUdeviceptr w, CUdeviceptr g, List<CUdeviceptr> slots, CUdeviceptr slow, CUdeviceptr chunkTable,
            int chunks, CUdeviceptr groups, CUdeviceptr scalars, CUdeviceptr finishScalars, CUdeviceptr flag,
            CUdeviceptr partials, CUdeviceptr tensorState, CUdeviceptr firstChunk, int tensors, CUdeviceptr geometry,
            CUdeviceptr scratch, int totalWork, CUdeviceptr jobs, int numJobs) {
        /** Pointers of a rule without tensor geometry ({@link Rule#tensorGeometryWidth()} 0). */
        Pointers(CUdeviceptr w, CUdeviceptr g, List<CUdeviceptr> slots, CUdeviceptr slow, CUdeviceptr chunkTable,
                int chunks, CUdeviceptr groups, CUdeviceptr scalars, CUdeviceptr finishScalars, CUdeviceptr flag,
                CUdeviceptr partials, CUdeviceptr tensorState, CUdeviceptr firstChunk, int tensors) {
            this(w, g, slots, slow, chunkTable, chunks, groups, scalars, finishScalars, flag, partials, tensorState,
                    firstChunk, tensors, null, null, 0, null, 0);
        }

        /** The same pointers with the pass gated by {@code gate} (one of the step-control block's ints). */
        Pointers gatedBy(CUdeviceptr gate) {
            return new Pointers(w, g, slots, slow, chunkTable, chunks, groups, scalars, finishScalars, gate, partials,
                    tensorState, firstChunk, tensors, geometry, scratch, totalWork, jobs, numJobs);
        }
    }

    /** The arguments of {@code kernel} running {@code pass}; static so the signature test can build them. */
    static KernelArgs args(Kernel kernel, StepPlan.Pass pass, Pointers p, float alpha) {
        return args(kernel, pass, p, alpha, Tail.NONE);
    }

    /** As above, with the regime's {@code tail} after an update entry's arguments. */
    static KernelArgs args(Kernel kernel, StepPlan.Pass pass, Pointers p, float alpha, Tail tail) {
        if (pass.kind() == StepPlan.Kind.UPDATE) {
            return tail.append(updateArgs(kernel, p.w(), p.g(), p.slots(), p.chunkTable(), p.chunks(), p.groups(),
                    p.scalars(), p.flag(), p.tensorState(), pass.sums() ? p.partials() : null, p.geometry(),
                    p.scratch(), pass.lookaheadSync() ? p.slow() : null, alpha));
        }
        return switch (pass.kind()) {
            case FINITE_CHECK -> finiteArgs(p.g(), p.chunkTable(), p.chunks(), p.flag());
            case LOOKAHEAD_INIT -> lookaheadInitArgs(p.w(), p.slow(), p.chunkTable(), p.chunks(), p.flag());
            case NORM -> withGeometry(normArgs(p.w(), p.g(), p.slots(), p.chunkTable(), p.chunks(), p.groups(),
                    p.scalars(), p.flag(), p.partials()), p, true);
            case UPDATE -> updateArgs(kernel, p.w(), p.g(), p.slots(), p.chunkTable(), p.chunks(), p.groups(),
                    p.scalars(), p.flag(), p.tensorState(), pass.sums() ? p.partials() : null, p.geometry(),
                    p.scratch(), pass.lookaheadSync() ? p.slow() : null, alpha);
            case FINISH -> withGeometry(finishArgs(p.partials(), p.chunks(), p.firstChunk(), p.groups(), p.tensors(),
                    p.finishScalars(), p.flag(), p.tensorState()), p, false);
            case FACTOR_STATS, FACTOR_SCALES -> tensorPassArgs(p);
            case ORTHO_PREPARE -> withGeometry(normArgs(p.w(), p.g(), p.slots(), p.chunkTable(), p.chunks(),
                    p.groups(), p.scalars(), p.flag(), p.partials()), p, true);
            case ORTHOGONALIZE -> nsArgs(p, 0, 0, 1);
        };
    }

    /**
     * Muon's Newton–Schulz iterations: the normalisation, then per iteration the three products, each stage one
     * launch over every matrix's tiles (or, with cuBLAS, the products per matrix through cuBLAS).
     */
    private void orthogonalize(Kernel kernel, Pointers ptrs, java.util.List<Launch> out) {
        if (nsJobCount == 0) {
            return;
        }
        out.add(new Launch(kernel, blocks(nsTiles[0]), nsArgs(ptrs, 0, 0, nsTiles[0])));
        int steps = ((io.fusedopt.rule.Muon) rule).nsSteps();
        for (int it = 0; it < steps; it++) {
            int parity = it % 2;
            if (cublas != null) {
                MuonCublas products = cublas;
                out.add(Launch.call(() -> products.iterate(scratch, parity)));
                continue;
            }
            for (int st = 1; st < io.fusedopt.rule.Muon.STAGES; st++) {
                out.add(new Launch(kernel, blocks(nsTiles[st]), nsArgs(ptrs, st, parity, nsTiles[st])));
            }
        }
    }


    /** Blocks for {@code tiles} tiles, one block each, at most the grid-stride cap. */
    private static int blocks(int tiles) {
        return Math.max(1, Math.min(tiles, 1 << 20));
    }

    /** Appends the geometry (and the scratch) for a rule with tensor geometry. */
    private static KernelArgs withGeometry(KernelArgs a, Pointers p, boolean scratch) {
        if (p.geometry() != null) {
            a.ptr(p.geometry());
            if (scratch) {
                a.ptr(p.scratch());
            }
        }
        return a;
    }

    @Override
    public Halt takeHalt(boolean wait) {
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        backend.makeCurrent();
        if (wait) {
            awaitSteps();
            drainReadBacks();
        } else {
            pollReadBacks();
        }
        if (haltIssue < 0) {
            return null;
        }
        // Queued on fusedopt's stream, which every step issued so far precedes (a step on the caller's stream is
        // joined to it by an event): those steps stay refused, the next one applies.
        Driver.check(cuMemcpyHtoDAsync(control.withByteOffset(StepControlBlock.HALTED), haltClear, Integer.BYTES,
                backend.stream()), "queueing the lifting of a halt");
        Halt h = new Halt(haltStep, issued - haltIssue - 1);
        haltIssue = -1;
        return h;
    }

    @Override
    public StepCounters counters() {
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        return StepControlBlock.counters(readBlock());
    }

    @Override
    public void setCounters(long applied, long skipped, float lossScale, int growthTracker) {
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        ByteBuffer b = readBlock();
        StepControlBlock.setCounters(b, options, applied, skipped, lossScale, growthTracker);
        haltIssue = -1;
        Driver.check(cuMemcpyHtoD(control, Pointer.to(b.array()), StepControlBlock.BYTES),
                "writing the step-control block");
        knownApplied = applied;
    }

    @Override
    public long lossScaleAddress() {
        return control.address() + StepControlBlock.SCALE;
    }

    @Override
    public double[] tensorState() {
        if (tensorState == null) {
            return new double[0];
        }
        backend.makeCurrent();
        double[] out = new double[tensors * rule.tensorStateWidth()];
        Driver.check(cuMemcpyDtoH(Pointer.to(out), tensorState, (long) out.length * Double.BYTES),
                "reading the per-tensor state");
        return out;
    }

    @Override
    public void setTensorState(double[] state) {
        int n = tensors * rule.tensorStateWidth();
        if (state.length != n) {
            throw new IllegalArgumentException("tensor state has " + state.length + " values, expected " + n);
        }
        if (n > 0) {
            backend.makeCurrent();
            writeTensorState(state);
        }
    }

    private void writeTensorState(double[] state) {
        Driver.check(cuMemcpyHtoD(tensorState, Pointer.to(state), (long) state.length * Double.BYTES),
                "writing the per-tensor state");
    }

    private int freeOwned() {
        if (cublas != null) {
            cublas.close();
        }
        for (DevicePointer p : owned) {
            cuMemFree(p);
        }
        owned.clear();
        for (int i = 0; i < SCALAR_SLOTS; i++) {
            if (slotEvents[i] != null) {
                // The stream's work is done (close waits for the device), so no copy still reads the slot.
                cuEventDestroy(slotEvents[i]);
                slotEvents[i] = null;
            }
            if (hostPointers[i] != null) {
                cuMemFreeHost(hostPointers[i]);
                hostPointers[i] = null;
            }
            if (readEvents[i] != null) {
                cuEventDestroy(readEvents[i]);
                readEvents[i] = null;
            }
            if (readPointers[i] != null) {
                cuMemFreeHost(readPointers[i]);
                readPointers[i] = null;
            }
        }
        if (haltClear != null) {
            cuMemFreeHost(haltClear);
            haltClear = null;
        }
        for (CUevent e : new CUevent[] {orderEvent, callerEvent}) {
            if (e != null) {
                cuEventDestroy(e);
            }
        }
        orderEvent = null;
        callerEvent = null;
        return 0;
    }

    /** Frees the tables and scratch buffers; never throws (see {@link CudaBuffer#close()}). */
    @Override
    public void close() {
        if (!closed) {
            releaseGraph();
            closed = true;
            backend.untrack(this);
            backend.releaseQuietly(this::freeOwned);
        }
    }
}
