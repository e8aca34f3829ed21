package io.fusedopt;

import io.fusedopt.core.CudaException;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.CallerMemory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's tensors in one arena on a device: a flat, aligned buffer of parameters and one of gradients, both
 * addressed by tensor name. Optimizers built on the store add one buffer per state slot with the same layout.
 *
 * <pre>{@code
 * ParameterStore store = ParameterStore.builder()
 *         .add("fc1.weight", 128, 64).add("fc1.bias", 128)
 *         .build(device);
 * store.setParameters("fc1.weight", initialWeights);
 * }</pre>
 *
 * <p>Parameters and gradients start at zero. On CUDA, {@link #parameterAddress} and {@link #gradientAddress} give
 * device pointers so a framework can compute gradients, or use the parameters, in place.
 *
 * <p><b>External tensors.</b> A framework that already owns a tensor's memory registers it instead
 * ({@link Builder#addExternal(String, float[], float[], long...)} on the CPU backend,
 * {@link Builder#addExternalDevice} on CUDA): the store then reads and writes the caller's parameters (and, where
 * given, gradients) in place, and a step updates them there, with no copy in either direction. The store still
 * allocates every state slot, and the gradients of a tensor registered without them. External and store-owned
 * tensors mix freely in one store and one optimizer; {@link #setParameters}, {@link #parameters}, checkpoints and
 * every other method treat both alike.
 *
 * <p>Lifetime: the caller keeps registered memory alive, and at the same place (a device allocation not freed, a
 * Java array not replaced), until this store is {@link #close() closed}; closing the store does not free it. The
 * caller must not write it while a step or a copy of the store runs, and on CUDA must order its own writes (for
 * example a backward pass on another stream) before {@link Optimizer#step()}, as for the store's own buffers.
 */
public final class ParameterStore implements AutoCloseable {
    private final Device device;
    private final List<Tensor> tensors;
    private final Map<String, Tensor> byName;
    private final long totalElements;
    private final ArenaLayout layout;
    private volatile ArenaBuffer params;
    private volatile ArenaBuffer grads;
    private final io.fusedopt.core.Dtype dtype;

    private ParameterStore(Device device, List<Tensor> tensors, long totalElements, io.fusedopt.core.Dtype dtype) {
        this(device, tensors, totalElements, dtype, CallerMemory.none(tensors.size()),
                CallerMemory.none(tensors.size()));
    }

    private ParameterStore(Device device, List<Tensor> tensors, long totalElements, io.fusedopt.core.Dtype dtype,
            CallerMemory callerParams, CallerMemory callerGrads) {
        this.device = device;
        this.dtype = dtype;
        this.tensors = List.copyOf(tensors);
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Tensor t : tensors) {
            m.put(t.name(), t);
        }
        this.byName = Collections.unmodifiableMap(m);
        this.totalElements = totalElements;
        this.layout = new ArenaLayout(tensors, new int[tensors.size()], 1, totalElements);
        Backend backend = device.backend();
        checkBackend(backend, tensors, callerParams, callerGrads);
        checkHeap(backend, tensors, totalElements, callerParams, callerGrads);
        ArenaBuffer p = null;
        try {
            p = backend.allocate(layout, "parameters", dtype, callerParams);
            ArenaBuffer g = backend.allocate(layout, "gradients", dtype, callerGrads);
            try {
                // The caller's memory keeps what it holds: only the store's own tensors start at zero.
                for (Tensor t : tensors) {
                    if (!callerParams.callerOwned(t.index())) {
                        p.fill(t, 0f);
                    }
                    if (!callerGrads.callerOwned(t.index())) {
                        g.fill(t, 0f);
                    }
                }
            } catch (RuntimeException e) {
                g.close();
                throw e;
            }
            this.params = p;
            this.grads = g;
        } catch (CudaException e) {
            if (p != null) {
                p.close();
            }
            Tensor largest = largest(tensors);
            throw new CudaException(e.code(), e.errorName(), e.action() + " for an arena of " + totalElements
                    + " elements, the largest tensor '" + largest.name() + "' of " + largest.length() + " elements");
        } catch (RuntimeException e) {
            if (p != null) {
                p.close();
            }
            throw e;
        } catch (OutOfMemoryError e) {
            if (p != null) {
                p.close();
            }
            throw tooLarge(backend, tensors, totalElements, e);
        }
    }

    // The CPU backend keeps buffers on the heap: refuse an arena that cannot fit before trying, so that the
    // answer is one error naming the tensor rather than an OutOfMemoryError from deep inside an allocation.
    private static void checkHeap(Backend backend, List<Tensor> tensors, long totalElements, CallerMemory callerParams,
            CallerMemory callerGrads) {
        // The caller's arrays are already on the heap; only what the store allocates must still fit.
        long own = 2 * totalElements;
        for (Tensor t : tensors) {
            own -= callerParams.callerOwned(t.index()) ? t.length() : 0;
            own -= callerGrads.callerOwned(t.index()) ? t.length() : 0;
        }
        if (backend.name().equals("cpu") && own > Runtime.getRuntime().maxMemory() / Float.BYTES) {
            throw tooLarge(backend, tensors, totalElements, null);
        }
    }

    // Refuses memory the backend cannot read before anything is allocated, naming the tensor and the value.
    private static void checkBackend(Backend backend, List<Tensor> tensors, CallerMemory callerParams,
            CallerMemory callerGrads) {
        boolean cpu = backend.name().equals("cpu");
        for (Tensor t : tensors) {
            int i = t.index();
            for (CallerMemory m : List.of(callerParams, callerGrads)) {
                String what = m == callerParams ? "parameters" : "gradients";
                if (cpu && m.address(i) != 0) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "': " + what + " registered at device"
                            + " address 0x" + Long.toHexString(m.address(i)) + ", but the store is being built on the"
                            + " CPU backend, which reads Java arrays: register a float[] with addExternal");
                }
                if (!cpu && m.array(i) != null) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "': " + what + " registered as a"
                            + " float[" + m.array(i).length + "], but the store is being built on the "
                            + backend.name() + " backend, which reads device memory: register the device address"
                            + " with addExternalDevice");
                }
            }
        }
    }

    private static Tensor largest(List<Tensor> tensors) {
        Tensor largest = tensors.get(0);
        for (Tensor t : tensors) {
            if (t.length() > largest.length()) {
                largest = t;
            }
        }
        return largest;
    }

    private static IllegalArgumentException tooLarge(Backend backend, List<Tensor> tensors, long totalElements,
            Throwable cause) {
        Tensor largest = largest(tensors);
        double bytes = 2.0 * Float.BYTES * totalElements;
        String where = backend.name().equals("cpu")
                ? String.format(java.util.Locale.ROOT, "more than this JVM's heap of %.1f GiB (-Xmx)",
                        Runtime.getRuntime().maxMemory() / (double) (1L << 30))
                : "more than the " + backend.name() + " device could allocate";
        IllegalArgumentException e = new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                "tensor '%s' of %d elements is too large: the arena of %d elements needs %.1f GiB for its parameter"
                + " and gradient buffers, %s", largest.name(), largest.length(), totalElements,
                bytes / (1L << 30), where));
        if (cause != null) {
            e.initCause(cause);
        }
        return e;
    }

    /** Starts declaring tensors. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Declares tensors by name and shape, in order, then places them in an arena on a device. A tensor is either
     * the store's own ({@link #add}) or the caller's ({@link #addExternal(String, float[], float[], long...)},
     * {@link #addExternalDevice}); see {@link ParameterStore} for what the caller then promises.
     */
    public static final class Builder {
        private final List<String> names = new ArrayList<>();
        private final List<long[]> shapes = new ArrayList<>();
        private io.fusedopt.core.Dtype dtype = io.fusedopt.core.Dtype.FLOAT32;
        /** Per tensor: the caller's memory, or null for a tensor the store allocates. */
        private final List<Registration> registrations = new ArrayList<>();

        /** A tensor's caller-owned memory: Java arrays or device addresses; a null array or a 0 address is none. */
        private record Registration(float[] w, float[] g, long wAddress, long gAddress, long bytes) {
            boolean callerGradients() {
                return g != null || gAddress != 0;
            }
        }

        private Builder() {
        }

        /**
         * Stores the parameters and gradients in {@code dtype} (float32 by default). Values written as float32
         * are rounded to nearest even; values read widen exactly. External tensors are float32: {@link #build}
         * refuses a store of another dtype that has any.
         *
         * @throws NullPointerException for null
         */
        public Builder dtype(io.fusedopt.core.Dtype dtype) {
            this.dtype = java.util.Objects.requireNonNull(dtype, "dtype must not be null");
            return this;
        }

        /**
         * Adds a tensor that the store allocates.
         *
         * @throws IllegalArgumentException for a null, empty or duplicate name, or a shape with no dimensions, a
         *     dimension below 1, or more than {@code Long.MAX_VALUE} elements
         */
        public Builder add(String name, long... shape) {
            checkShape(name, shape);
            names.add(name);
            shapes.add(shape.clone());
            registrations.add(null);
            return this;
        }

        /**
         * Adds a tensor whose parameters are the caller's array, for a store on the CPU backend; the store allocates
         * its gradients. As {@link #addExternal(String, float[], float[], long...)} with no gradient array.
         */
        public Builder addExternal(String name, float[] parameters, long... shape) {
            return addExternal(name, parameters, null, shape);
        }

        /**
         * Adds a tensor whose parameters, and gradients unless {@code gradients} is null, are the caller's arrays,
         * for a store on the CPU backend. The store keeps the arrays, never copies them: a step updates
         * {@code parameters} in place and reads {@code gradients} where the model wrote them. The arrays must stay
         * in use for this tensor until the store is closed.
         *
         * @param gradients the caller's gradient array, or null for gradients the store allocates
         * @throws IllegalArgumentException for a bad name or shape (as {@link #add}); a null parameter array; an
         *     array whose length is not the shape's element count; or an array already registered, as this
         *     tensor's other array or by an earlier tensor (external tensors must not overlap); each names the
         *     tensor and the value
         */
        public Builder addExternal(String name, float[] parameters, float[] gradients, long... shape) {
            long n = checkShape(name, shape);
            checkArray(name, "parameters", parameters, n, shape);
            if (gradients != null) {
                checkArray(name, "gradients", gradients, n, shape);
                if (gradients == parameters) {
                    throw new IllegalArgumentException("external tensor '" + name + "': its parameters and gradients"
                            + " are the same float[" + n + "]; they must be two arrays");
                }
            }
            for (int i = 0; i < names.size(); i++) {
                Registration r = registrations.get(i);
                if (r == null) {
                    continue;
                }
                for (float[] mine : new float[][] {parameters, gradients}) {
                    if (mine != null && (mine == r.w() || mine == r.g())) {
                        throw new IllegalArgumentException("external tensor '" + name + "': its "
                                + (mine == parameters ? "parameter" : "gradient") + " array is already registered"
                                + " as the " + (mine == r.w() ? "parameters" : "gradients") + " of '" + names.get(i)
                                + "'; external tensors must not overlap");
                    }
                }
            }
            names.add(name);
            shapes.add(shape.clone());
            registrations.add(new Registration(parameters, gradients, 0, 0, 0));
            return this;
        }

        /**
         * Adds a tensor whose parameters, and gradients unless {@code gradientAddress} is 0, are the caller's
         * device memory, for a store on CUDA: float32 elements at {@code parameterAddress} (and at
         * {@code gradientAddress}), row-major, as a framework's contiguous tensor holds them. The store never copies
         * them: a step updates the parameters in place and reads the gradients where the framework wrote them.
         * Addresses on a 16-byte boundary take the kernels' 128-bit loads; others are read one float at a time.
         * Building the store also checks, with the driver, that each range lies inside one allocation of the
         * device's context. The memory must stay allocated until the store is closed.
         *
         * <p>{@link CudaPointers#address} turns a JCuda {@code CUdeviceptr} into the address.
         *
         * @param parameterAddress the device address of the first parameter
         * @param gradientAddress the device address of the first gradient, or 0 for gradients the store allocates
         * @param length the float32 elements the caller's memory holds at each address: at least the shape's count
         * @throws IllegalArgumentException for a bad name or shape (as {@link #add}); a parameter address of 0; an
         *     address that is not a multiple of 4 bytes; a {@code length} below the shape's element count; a range
         *     past the end of the address space; or a range that overlaps this tensor's other range or one
         *     registered by an earlier tensor; each names the tensor and the value
         */
        public Builder addExternalDevice(String name, long parameterAddress, long gradientAddress, long length,
                long... shape) {
            long n = checkShape(name, shape);
            if (length < n) {
                throw new IllegalArgumentException("external tensor '" + name + "' is registered with " + length
                        + " elements at 0x" + Long.toHexString(parameterAddress) + ", its shape "
                        + java.util.Arrays.toString(shape) + " needs " + n);
            }
            if (n > Long.MAX_VALUE / Float.BYTES) {
                throw new IllegalArgumentException("external tensor '" + name + "' of " + n + " elements spans more"
                        + " than " + Long.MAX_VALUE + " bytes");
            }
            long bytes = n * Float.BYTES;
            if (parameterAddress == 0) {
                throw new IllegalArgumentException("external tensor '" + name + "': the parameter address must be"
                        + " non-zero, got 0x0");
            }
            checkAddress(name, "parameter", parameterAddress, bytes);
            if (gradientAddress != 0) {
                checkAddress(name, "gradient", gradientAddress, bytes);
                checkDisjoint(name, "gradients", gradientAddress, "its own parameters", parameterAddress, bytes, bytes);
            }
            for (int i = 0; i < names.size(); i++) {
                Registration r = registrations.get(i);
                if (r == null || r.bytes() == 0) {
                    continue;
                }
                for (long mine : new long[] {parameterAddress, gradientAddress}) {
                    if (mine == 0) {
                        continue;
                    }
                    String which = mine == parameterAddress ? "parameters" : "gradients";
                    checkDisjoint(name, which, mine, "the parameters of '" + names.get(i) + "'", r.wAddress(),
                            bytes, r.bytes());
                    if (r.gAddress() != 0) {
                        checkDisjoint(name, which, mine, "the gradients of '" + names.get(i) + "'", r.gAddress(),
                                bytes, r.bytes());
                    }
                }
            }
            names.add(name);
            shapes.add(shape.clone());
            registrations.add(new Registration(null, null, parameterAddress, gradientAddress, bytes));
            return this;
        }

        /** Validates a name and a shape; returns the element count. */
        private long checkShape(String name, long[] shape) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("tensor name must be non-empty, got " + (name == null ? "null" : "\"\""));
            }
            if (names.contains(name)) {
                throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
            }
            if (shape == null || shape.length == 0) {
                throw new IllegalArgumentException("shape of '" + name + "' must have at least one dimension");
            }
            long n = 1;
            for (long d : shape) {
                if (d < 1) {
                    throw new IllegalArgumentException("shape of '" + name + "' must have dimensions >= 1, got "
                            + java.util.Arrays.toString(shape));
                }
                try {
                    n = Math.multiplyExact(n, d);
                } catch (ArithmeticException e) {
                    throw new IllegalArgumentException("shape of '" + name + "' has more than " + Long.MAX_VALUE
                            + " elements: " + java.util.Arrays.toString(shape), e);
                }
            }
            return n;
        }

        private static void checkArray(String name, String what, float[] a, long n, long[] shape) {
            if (a == null) {
                throw new IllegalArgumentException("external tensor '" + name + "': its " + what + " must be a"
                        + " float[], got null");
            }
            if (a.length != n) {
                throw new IllegalArgumentException("external tensor '" + name + "': its " + what + " array has "
                        + a.length + " elements, the shape " + java.util.Arrays.toString(shape) + " needs " + n);
            }
        }

        private static void checkAddress(String name, String what, long address, long bytes) {
            if (address % Float.BYTES != 0) {
                throw new IllegalArgumentException("external tensor '" + name + "': the " + what + " address 0x"
                        + Long.toHexString(address) + " is not a multiple of " + Float.BYTES + " bytes (float32)");
            }
            if (Long.compareUnsigned(address + bytes, address) < 0) {
                throw new IllegalArgumentException("external tensor '" + name + "': " + bytes + " bytes at the "
                        + what + " address 0x" + Long.toHexString(address) + " run past the end of the address"
                        + " space");
            }
        }

        // Two ranges [a, a + an) and [b, b + bn) of unsigned addresses must not share a byte.
        private static void checkDisjoint(String name, String what, long a, String other, long b, long an, long bn) {
            boolean apart = Long.compareUnsigned(a + an, b) <= 0 || Long.compareUnsigned(b + bn, a) <= 0;
            if (!apart) {
                throw new IllegalArgumentException("external tensor '" + name + "': its " + what + " at [0x"
                        + Long.toHexString(a) + ", 0x" + Long.toHexString(a + an) + ") overlap " + other + " at [0x"
                        + Long.toHexString(b) + ", 0x" + Long.toHexString(b + bn) + "); external tensors must not"
                        + " overlap");
            }
        }

        /**
         * Places the tensors (each aligned to {@link LaunchConfig#ALIGN} elements) without allocating anything: the
         * layout {@link #build} would use, with every tensor in one group. The store's own tensors come first, in
         * declaration order, then external tensors whose gradients the store holds, then those whose gradients the
         * caller holds: the parameter and gradient buffers then stop where the store's own tensors end, and only
         * the state slots span the whole arena. Tensor indices stay in declaration order.
         *
         * @throws IllegalArgumentException when no tensor was added or the arena would exceed 2^63 elements
         */
        public ArenaLayout plan() {
            if (names.isEmpty()) {
                throw new IllegalArgumentException("a parameter store needs at least one tensor");
            }
            long[] offsets = new long[names.size()];
            long[] lengths = new long[names.size()];
            long offset = 0;
            try {
                for (int placement = 0; placement < 3; placement++) {
                    for (int i = 0; i < names.size(); i++) {
                        Registration r = registrations.get(i);
                        int kind = r == null ? 0 : r.callerGradients() ? 2 : 1;
                        if (kind != placement) {
                            continue;
                        }
                        long len = 1;
                        for (long d : shapes.get(i)) {
                            len *= d;
                        }
                        offsets[i] = offset;
                        lengths[i] = len;
                        long end = Math.addExact(offset, len);
                        offset = Math.addExact(end, (LaunchConfig.ALIGN - end % LaunchConfig.ALIGN)
                                % LaunchConfig.ALIGN);
                    }
                }
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("the arena would exceed " + Long.MAX_VALUE + " elements", e);
            }
            List<Tensor> tensors = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                tensors.add(new Tensor(names.get(i), shapes.get(i), offsets[i], lengths[i], i,
                        registrations.get(i) != null));
            }
            return new ArenaLayout(tensors, new int[tensors.size()], 1, offset);
        }

        /**
         * Places the tensors as {@link #plan()} does and allocates the arena on {@code device}; external tensors are
         * wrapped, not allocated.
         *
         * @throws IllegalArgumentException when no tensor was added, when the arena exceeds
         *     {@link ArenaLayout#MAX_ELEMENTS} elements, or when it cannot fit in the CPU backend's heap; each names
         *     the tensor and its size. Also for an external tensor registered for the other backend (a Java array
         *     for a CUDA store, a device address for a CPU store), and on CUDA for an address range that is not
         *     inside one device allocation of the device's context, naming the tensor and the address
         * @throws CudaException when the device cannot allocate the arena; nothing stays allocated
         */
        public ParameterStore build(Device device) {
            ArenaLayout layout = plan();
            int n = names.size();
            float[][] wa = new float[n][];
            float[][] ga = new float[n][];
            long[] wd = new long[n];
            long[] gd = new long[n];
            for (int i = 0; i < n; i++) {
                Registration r = registrations.get(i);
                if (r != null) {
                    if (dtype != io.fusedopt.core.Dtype.FLOAT32) {
                        throw new IllegalArgumentException("external tensor '" + names.get(i) + "' in a store of "
                                + dtype.label() + ": external tensors are float32 (the caller's float[] or float32"
                                + " device memory); keep the store float32, or add the tensor with add()");
                    }
                    wa[i] = r.w();
                    ga[i] = r.g();
                    wd[i] = r.wAddress();
                    gd[i] = r.gAddress();
                }
            }
            return new ParameterStore(device, layout.tensors(), layout.totalElements(), dtype,
                    CallerMemory.of(wa, wd), CallerMemory.of(ga, gd));
        }
    }

    /** The storage type of the parameters and gradients. */
    public io.fusedopt.core.Dtype dtype() {
        return dtype;
    }

    /** The device the arena lives on. */
    public Device device() {
        return device;
    }

    /** The tensors, in declaration order. */
    public List<Tensor> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}; rejects unknown names. */
    public Tensor tensor(String name) {
        Tensor t = byName.get(name);
        if (t == null) {
            throw new IllegalArgumentException("unknown tensor name '" + name + "'");
        }
        return t;
    }

    /** Elements the arena spans, alignment padding included. */
    public long arenaElements() {
        return totalElements;
    }

    /** Total parameter count (the sum of the tensor lengths). */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : tensors) {
            n += t.length();
        }
        return n;
    }

    /** The store's layout with every tensor in one group. */
    public ArenaLayout layout() {
        return layout;
    }

    /** Sets all of a tensor's parameters; rejects unknown names and arrays of the wrong length. */
    public void setParameters(String name, float[] values) {
        Tensor t = tensor(name);
        checkWhole(t, values, "parameters");
        device.use(() -> live(params).write(t, 0, values, 0, values.length));
    }

    /** Sets all of a tensor's gradients; rejects unknown names and arrays of the wrong length. */
    public void setGradients(String name, float[] values) {
        Tensor t = tensor(name);
        checkWhole(t, values, "gradients");
        device.use(() -> live(grads).write(t, 0, values, 0, values.length));
    }

    /** Writes {@code len} parameters from {@code src[from..]} at element {@code at} of a tensor (64-bit offsets). */
    public void writeParameters(String name, long at, float[] src, int from, int len) {
        device.use(() -> live(params).write(tensor(name), at, src, from, len));
    }

    /** Writes {@code len} gradients from {@code src[from..]} at element {@code at} of a tensor (64-bit offsets). */
    public void writeGradients(String name, long at, float[] src, int from, int len) {
        device.use(() -> live(grads).write(tensor(name), at, src, from, len));
    }

    /** Reads {@code len} parameters of a tensor from element {@code at} into {@code dst[from..]}. */
    public void readParameters(String name, long at, float[] dst, int from, int len) {
        device.use(() -> live(params).read(tensor(name), at, dst, from, len));
    }

    /** A copy of a tensor's parameters; rejects unknown names and tensors of 2^31 elements or more. */
    public float[] parameters(String name) {
        Tensor t = tensor(name);
        float[] out = new float[wholeLength(t)];
        device.use(() -> live(params).read(t, 0, out, 0, out.length));
        return out;
    }

    /** A copy of a tensor's gradients; rejects unknown names and tensors of 2^31 elements or more. */
    public float[] gradients(String name) {
        Tensor t = tensor(name);
        float[] out = new float[wholeLength(t)];
        device.use(() -> live(grads).read(t, 0, out, 0, out.length));
        return out;
    }

    /** Sets every gradient to zero. */
    public void zeroGradients() {
        device.use(() -> {
            ArenaBuffer g = live(grads);
            for (Tensor t : tensors) {
                g.fill(t, 0f);
            }
        });
    }

    /** The device address of a tensor's parameters (CUDA only; the CPU backend throws). */
    public long parameterAddress(String name) {
        return live(params).address(tensor(name));
    }

    /** The device address of a tensor's gradients (CUDA only; the CPU backend throws). */
    public long gradientAddress(String name) {
        return live(grads).address(tensor(name));
    }

    /** The parameter buffer, for optimizers. */
    public ArenaBuffer parameterBuffer() {
        return live(params);
    }

    /** The gradient buffer, for optimizers. */
    public ArenaBuffer gradientBuffer() {
        return live(grads);
    }

    /** Whether {@link #close()} has run. */
    public boolean isClosed() {
        return params == null;
    }

    static int wholeLength(Tensor t) {
        if (t.length() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' has " + t.length()
                    + " elements, too many for one Java array; use the offset-based read and write methods");
        }
        return (int) t.length();
    }

    private static void checkWhole(Tensor t, float[] values, String what) {
        if (values == null || values.length != t.length()) {
            throw new IllegalArgumentException(what + " for '" + t.name() + "' have "
                    + (values == null ? "null" : values.length + " elements") + ", expected " + t.length());
        }
    }

    private ArenaBuffer live(ArenaBuffer b) {
        if (b == null) {
            throw new IllegalStateException("the parameter store is closed");
        }
        return b;
    }

    /**
     * Frees the parameter and gradient buffers, after waiting for running steps and copies on the device. Closing
     * twice is harmless.
     */
    @Override
    public void close() {
        device.release(() -> {
            if (params != null) {
                try {
                    device.quietSynchronize();
                    params.close();
                    grads.close();
                } finally {
                    params = null;
                    grads = null;
                }
            }
        });
    }
}
