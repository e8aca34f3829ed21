package io.fusedopt;

import io.fusedopt.core.CudaException;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
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
        checkHeap(backend, tensors, totalElements);
        ArenaBuffer p = null;
        try {
            p = backend.allocate(layout, "parameters", dtype);
            ArenaBuffer g = backend.allocate(layout, "gradients", dtype);
            try {
                for (Tensor t : tensors) {
                    p.fill(t, 0f);
                    g.fill(t, 0f);
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
    private static void checkHeap(Backend backend, List<Tensor> tensors, long totalElements) {
        if (backend.name().equals("cpu") && totalElements > Runtime.getRuntime().maxMemory() / (2L * Float.BYTES)) {
            throw tooLarge(backend, tensors, totalElements, null);
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

    /** Declares tensors by name and shape, in order, then places them in an arena on a device. */
    public static final class Builder {
        private final List<String> names = new ArrayList<>();
        private final List<long[]> shapes = new ArrayList<>();
        private io.fusedopt.core.Dtype dtype = io.fusedopt.core.Dtype.FLOAT32;

        private Builder() {
        }

        /**
         * Stores the parameters and gradients in {@code dtype} (float32 by default). Values written as float32
         * are rounded to nearest even; values read widen exactly.
         *
         * @throws NullPointerException for null
         */
        public Builder dtype(io.fusedopt.core.Dtype dtype) {
            this.dtype = java.util.Objects.requireNonNull(dtype, "dtype must not be null");
            return this;
        }

        /**
         * Adds a tensor.
         *
         * @throws IllegalArgumentException for a null, empty or duplicate name, or a shape with no dimensions, a
         *     dimension below 1, or more than {@code Long.MAX_VALUE} elements
         */
        public Builder add(String name, long... shape) {
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
            names.add(name);
            shapes.add(shape.clone());
            return this;
        }

        /**
         * Places the tensors (each aligned to {@link LaunchConfig#ALIGN} elements) without allocating anything: the
         * layout {@link #build} would use, with every tensor in one group.
         *
         * @throws IllegalArgumentException when no tensor was added or the arena would exceed 2^63 elements
         */
        public ArenaLayout plan() {
            if (names.isEmpty()) {
                throw new IllegalArgumentException("a parameter store needs at least one tensor");
            }
            List<Tensor> tensors = new ArrayList<>();
            long offset = 0;
            try {
                for (int i = 0; i < names.size(); i++) {
                    long len = 1;
                    for (long d : shapes.get(i)) {
                        len *= d;
                    }
                    tensors.add(new Tensor(names.get(i), shapes.get(i), offset, len, i));
                    long end = Math.addExact(offset, len);
                    offset = Math.addExact(end, (LaunchConfig.ALIGN - end % LaunchConfig.ALIGN) % LaunchConfig.ALIGN);
                }
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("the arena would exceed " + Long.MAX_VALUE + " elements", e);
            }
            return new ArenaLayout(tensors, new int[tensors.size()], 1, offset);
        }

        /**
         * Places the tensors as {@link #plan()} does and allocates the arena on {@code device}.
         *
         * @throws IllegalArgumentException when no tensor was added, when the arena exceeds
         *     {@link ArenaLayout#MAX_ELEMENTS} elements, or when it cannot fit in the CPU backend's heap; each names
         *     the tensor and its size
         * @throws CudaException when the device cannot allocate the arena; nothing stays allocated
         */
        public ParameterStore build(Device device) {
            ArenaLayout layout = plan();
            return new ParameterStore(device, layout.tensors(), layout.totalElements(), dtype);
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
