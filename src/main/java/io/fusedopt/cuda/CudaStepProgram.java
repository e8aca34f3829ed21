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
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaLayout;
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

/**
 * One optimizer's step on CUDA. The chunk table, the tensor-to-group table and the first-chunk table are uploaded
 * once; a step is one small asynchronous copy of the scalars followed by the launches of its passes, all on the
 * backend's stream, with no synchronisation.
 *
 * <p>The scalars are written into one of {@link #SCALAR_SLOTS} pinned host slots, so the copy never makes the driver
 * wait (a copy from pageable memory may).
 *
 * <p>Why the scalars always travel as one copy rather than as kernel parameters: every group's row goes down in the
 * same 100-odd bytes, so one kernel signature serves one group or many, and the copy is queued on the stream like
 * a launch, without waiting for the device.
 */
final class CudaStepProgram implements StepProgram {
    /** Bytes of one {@code ChunkDesc}: {@code long long offset; int length; int tensor}. */
    static final int CHUNK_DESC_BYTES = 16;
    /** Pinned scalar slots per optimizer: how many steps the host may run ahead of the device. */
    static final int SCALAR_SLOTS = 4;

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
    private final List<DevicePointer> owned = new ArrayList<>();
    private final DevicePointer chunkTable;
    private final DevicePointer groupTable;
    private final DevicePointer firstChunk;
    private final DevicePointer scalars;
    private final DevicePointer flag;
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
    private final java.util.Map<StepPlan.Pass, Kernel> kernels = new java.util.HashMap<>();
    private boolean closed;
    /** The storage regime, the suffix of every entry this program launches ({@link Kernel#REGIMES}). */
    private final String regime;
    /** The model copy of a master regime, or null. */
    private final CudaBuffer model;
    private final boolean stochastic;
    private final long seed;
    private long step;

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
            chunkTable = upload(encodeChunks(layout), "the chunk table");
            groupTable = upload(ints(layout.groups()), "the tensor-to-group table");
            int[] first = new int[tensors + 1];
            for (int t = 0; t <= tensors; t++) {
                first[t] = layout.firstChunk(t);
            }
            firstChunk = upload(ints(first), "the first-chunk table");
            for (int i = 0; i < SCALAR_SLOTS; i++) {
                Pointer p = new Pointer();
                Driver.check(cuMemAllocHost(p, Math.max(8, scalarBytes)), "allocating pinned memory for the step"
                        + " scalars (" + Math.max(8, scalarBytes) + " bytes)");
                hostPointers[i] = p;
                hostSlots[i] = p.getByteBuffer(0, Math.max(8, scalarBytes)).order(ByteOrder.LITTLE_ENDIAN);
                CUevent e = new CUevent();
                Driver.check(cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING), "creating a scalar-slot event");
                slotEvents[i] = e;
            }
            scalars = alloc(Math.max(8, scalarBytes), "the step scalars");
            flag = alloc(Integer.BYTES, "the non-finite flag");
            Driver.check(cuMemsetD32(flag, 0, 1), "clearing the non-finite flag");
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
        all.add(params);
        all.add(grads);
        if (slow != null) {
            all.add(slow);
        }
        for (CudaBuffer b : all) {
            if (b.elements() < need) {
                throw new IllegalArgumentException("a buffer of " + b.elements() + " elements cannot hold an arena of "
                        + need);
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

    /** The chunk table as the kernels read it: per chunk the absolute offset (64-bit), the length and the tensor. */
    static ByteBuffer encodeChunks(ArenaLayout layout) {
        ByteBuffer b = ByteBuffer.allocate(layout.chunkCount() * CHUNK_DESC_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int c = 0; c < layout.chunkCount(); c++) {
            Tensor t = layout.tensors().get(layout.chunkTensor(c));
            b.putLong(t.offset() + layout.chunkStart(c));
            b.putInt(layout.chunkLength(c));
            b.putInt(layout.chunkTensor(c));
        }
        return b.flip();
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

    private void launch(Kernel k, int grid, KernelArgs a) {
        Driver.check(cuLaunchKernel(backend.modules().function(k), grid, 1, 1, LaunchConfig.BLOCK, 1, 1, 0,
                backend.stream(), a.toKernelParams(k), null), "launching " + k.entry() + " on " + grid + " blocks");
    }

    private static int blocksFor(int threads) {
        return Math.max(1, (threads + LaunchConfig.BLOCK - 1) / LaunchConfig.BLOCK);
    }

    @Override
    public void run(StepPlan plan, float[] stepScalars, double[] finishScalars, float alpha) {
        int k = rule.scalarCount() * layout.groupCount();
        int f = rule.finishScalarCount() * layout.groupCount();
        if (stepScalars.length != k || finishScalars.length != f) {
            throw new IllegalArgumentException("scalars have " + stepScalars.length + " + " + finishScalars.length
                    + " values, expected " + k + " + " + f);
        }
        if (closed) {
            throw new IllegalStateException("the step program is closed");
        }
        backend.makeCurrent();
        int slot = nextSlot;
        nextSlot = (nextSlot + 1) % SCALAR_SLOTS;
        if (slotInFlight[slot]) {
            // Only when the host is SCALAR_SLOTS steps ahead does the query find the copy still pending.
            int q = cuEventQuery(slotEvents[slot]);
            if (q != CUresult.CUDA_SUCCESS) {
                Driver.check(q == CUresult.CUDA_ERROR_NOT_READY ? cuEventSynchronize(slotEvents[slot]) : q,
                        "waiting for the copy of an earlier step's scalars");
            }
            slotInFlight[slot] = false;
        }
        ByteBuffer host = hostSlots[slot];
        host.clear();
        for (float v : stepScalars) {
            host.putFloat(v);
        }
        host.position((k * Float.BYTES + 7) & ~7);
        for (double v : finishScalars) {
            host.putDouble(v);
        }
        if (scalarBytes > 0) {
            Driver.check(cuMemcpyHtoDAsync(scalars, hostPointers[slot], scalarBytes, backend.stream()),
                    "queueing the step scalars");
            Driver.check(cuEventRecord(slotEvents[slot], backend.stream()), "recording the scalar copy's event");
            slotInFlight[slot] = true;
        }
        if (plan.checksFinite()) {
            Driver.check(cuMemsetD32Async(flag, 0, 1, backend.stream()), "clearing the non-finite flag");
        }
        List<CUdeviceptr> slotPointers = new ArrayList<>();
        for (CudaBuffer s : slots) {
            slotPointers.add(s.pointer());
        }
        Pointers ptrs = new Pointers(params.pointer(), grads.pointer(), slotPointers,
                slow == null ? null : slow.pointer(), chunkTable, chunks, groupTable, scalars,
                f == 0 ? null : scalars.withByteOffset((k * Float.BYTES + 7) & ~7), flag, partials, tensorState,
                firstChunk, tensors, geometry, scratch, totalWork, nsJobs, nsJobCount);
        Tail tail = new Tail(model == null ? null : model.pointer(), stochastic, seed, step);
        for (StepPlan.Pass pass : plan.passes()) {
            // A plan has a handful of distinct passes: derive each one's entry once, not on every step.
            Kernel kernel = kernels.computeIfAbsent(pass, p -> Kernel.of(rule, p, regime));
            if (pass.kind() == StepPlan.Kind.ORTHOGONALIZE) {
                orthogonalize(kernel, ptrs, plan.checksFinite());
                continue;
            }
            int grid = switch (pass.kind()) {
                case FINISH -> blocksFor(tensors);
                // One warp per work unit (a statistic, or 32 unfactored elements) and one warp per tensor.
                case FACTOR_STATS -> blocksFor((int) Math.min(Integer.MAX_VALUE / 2, (long) totalWork * 32));
                case FACTOR_SCALES -> blocksFor(tensors * 32);
                default -> chunks;
            };
            launch(kernel, grid, args(kernel, pass, ptrs, alpha, tail));
        }
    }

    @Override
    public void beginStep(long t) {
        step = t;
    }

    /**
     * What an update entry of a non-float32 regime takes last: the model copy (master regimes) or the stochastic
     * rounding seed and step.
     *
     * @param model the model copy, or null
     * @param stochastic whether the seed and step follow
     * @param seed the stochastic rounding seed
     * @param step the 1-based step number
     */
    record Tail(CUdeviceptr model, boolean stochastic, long seed, long step) {
        /** Nothing: the float32 and low-precision regimes. */
        static final Tail NONE = new Tail(null, false, 0L, 0L);

        KernelArgs append(KernelArgs a) {
            if (model != null) {
                a.ptr(model);
            }
            if (stochastic) {
                a.u64(seed).u64(step);
            }
            return a;
        }
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
    private void orthogonalize(Kernel kernel, Pointers ptrs, boolean checksFinite) {
        if (nsJobCount == 0) {
            return;
        }
        launch(kernel, blocks(nsTiles[0]), nsArgs(ptrs, 0, 0, nsTiles[0]));
        int steps = ((io.fusedopt.rule.Muon) rule).nsSteps();
        for (int it = 0; it < steps; it++) {
            int parity = it % 2;
            if (cublas != null) {
                cublas.iterate(scratch, parity);
                continue;
            }
            for (int st = 1; st < io.fusedopt.rule.Muon.STAGES; st++) {
                launch(kernel, blocks(nsTiles[st]), nsArgs(ptrs, st, parity, nsTiles[st]));
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
    public boolean lastStepSkipped() {
        backend.makeCurrent();
        int[] v = new int[1];
        Driver.check(cuMemcpyDtoH(Pointer.to(v), flag, Integer.BYTES), "reading the non-finite flag");
        return v[0] != 0;
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
        }
        return 0;
    }

    /** Frees the tables and scratch buffers; never throws (see {@link CudaBuffer#close()}). */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.untrack(this);
            backend.releaseQuietly(this::freeOwned);
        }
    }
}
