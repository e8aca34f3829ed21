package io.fusedopt.cpu;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.FusedOptException;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.CallerMemory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A CPU arena buffer on the Java heap. A tensor of more than {@link #PACKED_MAX} elements has pages of its own, of
 * {@link #PAGE} floats, so tensors of 2^31 elements and more fit; chunks never straddle a page, because
 * {@link io.fusedopt.core.LaunchConfig#CHUNK} divides {@link #PAGE} and pages are counted from the tensor's first
 * element. Smaller tensors are packed, in order, into shared arrays of up to {@link #PACK} floats, each starting
 * at a multiple of {@link #PACKED_ALIGN} floats: consecutive small tensors then lie next to each other in memory
 * whatever the garbage collector does with the arrays, and a pass over them reads a few long arrays, not one short
 * array per tensor and buffer. Every buffer of one layout places the tensors the same way.
 *
 * <p>A buffer of a 16-bit {@link Dtype} holds the bit patterns in {@code short} arrays of the same placement; a
 * pass converts a chunk into float32 scratch, runs the rule there and rounds the results back
 * ({@code CpuStepProgram}); {@link #read} widens and {@link #write} rounds to nearest even.
 *
 * <p>A tensor the caller owns ({@link Tensor#external()}) is never packed or paged: in every buffer of the layout it
 * has one array of its own, indexed from 0, because in the buffer it was registered in that array is the caller's
 * {@code float[]} itself (wrapped, not copied), and the rules index the parameters, the gradients and the state
 * slots of a chunk alike. Caller arrays are float32 only.
 */
final class CpuBuffer implements ArenaBuffer {
    /**
     * Elements per page: two chunks (2^16), as many as a shared array holds, so that no chunk ends past
     * {@link #OFFSET_LIMIT} in its array: a pass then keeps the gradients it converts or scales in a per-thread array
     * indexed like the pages ({@code CpuStepProgram}), and one that small stays in the core's cache from chunk to
     * chunk (an array indexed up to 2^20 did not, and its evictions cost more than the copy).
     */
    static final int PAGE_SHIFT = 16;
    static final long PAGE = 1L << PAGE_SHIFT;
    static final long PAGE_MASK = PAGE - 1;
    /** The largest tensor packed with others: one chunk. */
    static final int PACKED_MAX = LaunchConfig.CHUNK;
    /** Elements per shared array: two chunks (2^16; 256 KiB of float32). */
    static final int PACK = 2 * LaunchConfig.CHUNK;
    /** Every chunk of a packed or paged tensor ends at or before this index of its array. */
    static final int OFFSET_LIMIT = Math.max(PACK, 1 << PAGE_SHIFT);
    /** Where packed tensors start: multiples of 16 floats (64 bytes, one cache line and one 512-bit vector). */
    static final int PACKED_ALIGN = 16;

    private final List<Tensor> tensors;
    private final String purpose;
    private final Dtype dtype;
    /** Per tensor: its pages, or the one shared array that holds it (float32 buffers). */
    private float[][][] pages;
    /** As {@link #pages}, for 16-bit buffers. */
    private short[][][] hpages;
    /** Whether the buffer is closed. */
    private volatile boolean closed;
    /** Per tensor: the index of its first element in its first page (0 unless packed). */
    private final int[] base;
    /** Every array of the buffer, once. */
    private float[][] arrays;
    /** Every 16-bit array of the buffer, once. */
    private short[][] harrays;
    /** Per tensor: whether it has one array indexed from 0 (a tensor the caller owns; see the class comment). */
    private final boolean[] solo;

    CpuBuffer(ArenaLayout layout, String purpose) {
        this(layout, purpose, Dtype.FLOAT32);
    }

    /** A buffer over {@code layout} storing {@code dtype}; {@code purpose} names it in messages. */
    CpuBuffer(ArenaLayout layout, String purpose, Dtype dtype) {
        this(layout, purpose, dtype, CallerMemory.none(layout.tensors().size()));
    }

    /**
     * A float32 buffer whose tensors named by {@code memory} are the caller's arrays.
     *
     * @throws IllegalArgumentException when {@code memory} holds a device address, or an array whose length is not
     *     its tensor's, naming the tensor
     */
    CpuBuffer(ArenaLayout layout, String purpose, CallerMemory memory) {
        this(layout, purpose, Dtype.FLOAT32, memory);
    }

    /**
     * A buffer storing {@code dtype} whose tensors named by {@code memory} are the caller's arrays.
     *
     * @throws IllegalArgumentException when {@code memory} holds a device address, or an array whose length is not
     *     its tensor's, or any array for a 16-bit buffer, naming the tensor
     */
    CpuBuffer(ArenaLayout layout, String purpose, Dtype dtype, CallerMemory memory) {
        this.tensors = layout.tensors();
        this.purpose = purpose;
        this.dtype = dtype;
        int n = tensors.size();
        checkCallerMemory(memory, purpose, dtype);
        boolean half = dtype.isHalf();
        boolean[] one = new boolean[n];
        float[][][] p = new float[n][][];
        short[][][] hp = new short[n][][];
        int[] b = new int[n];
        List<float[]> all = new ArrayList<>();
        List<short[]> hall = new ArrayList<>();
        try {
            int t = 0;
            while (t < n) {
                long len = tensors.get(t).length();
                if (tensors.get(t).external()) {
                    if (half) {
                        short[] a = new short[(int) len];
                        hp[t] = new short[][] {a};
                        hall.add(a);
                    } else {
                        float[] a = memory.array(t) != null ? memory.array(t) : new float[(int) len];
                        p[t] = new float[][] {a};
                        all.add(a);
                    }
                    one[t] = true;
                    t++;
                    continue;
                }
                if (len > PACKED_MAX) {
                    int k = (int) ((len + PAGE - 1) >>> PAGE_SHIFT);
                    p[t] = new float[k][];
                    hp[t] = new short[k][];
                    for (int i = 0; i < k; i++) {
                        int size = (int) Math.min(PAGE, len - ((long) i << PAGE_SHIFT));
                        if (half) {
                            hp[t][i] = new short[size];
                            hall.add(hp[t][i]);
                        } else {
                            p[t][i] = new float[size];
                            all.add(p[t][i]);
                        }
                    }
                    t++;
                    continue;
                }
                // A run of small tensors that fits one shared array.
                int first = t;
                int used = 0;
                while (t < n && tensors.get(t).length() <= PACKED_MAX && !tensors.get(t).external()) {
                    int at = (used + PACKED_ALIGN - 1) / PACKED_ALIGN * PACKED_ALIGN;
                    int end = at + (int) tensors.get(t).length();
                    if (end > PACK && t > first) {
                        break;
                    }
                    b[t] = at;
                    used = end;
                    t++;
                }
                if (half) {
                    short[] pack = new short[used];
                    hall.add(pack);
                    for (int i = first; i < t; i++) {
                        hp[i] = new short[][] {pack};
                    }
                } else {
                    float[] pack = new float[used];
                    all.add(pack);
                    for (int i = first; i < t; i++) {
                        p[i] = new float[][] {pack};
                    }
                }
            }
        } catch (OutOfMemoryError e) {
            throw new io.fusedopt.core.FusedOptException("out of Java heap allocating the " + purpose
                    + " buffer of the CPU arena (" + layout.totalElements() + " elements); raise -Xmx", e);
        }
        this.pages = half ? null : p;
        this.hpages = half ? hp : null;
        this.base = b;
        this.solo = one;
        this.arrays = all.toArray(new float[0][]);
        this.harrays = hall.toArray(new short[0][]);
    }

    @Override
    public Dtype dtype() {
        return dtype;
    }

    private void checkCallerMemory(CallerMemory memory, String purpose, Dtype dtype) {
        if (memory.size() != tensors.size()) {
            throw new IllegalArgumentException("caller memory for " + memory.size() + " tensors, the layout has "
                    + tensors.size());
        }
        for (int t = 0; t < tensors.size(); t++) {
            Tensor x = tensors.get(t);
            if (memory.address(t) != 0) {
                throw new IllegalArgumentException("tensor '" + x.name() + "': " + purpose + " registered at device"
                        + " address 0x" + Long.toHexString(memory.address(t)) + ", but the store is on the CPU"
                        + " backend, which reads Java arrays: register a float[] instead");
            }
            float[] a = memory.array(t);
            if (a != null && dtype != Dtype.FLOAT32) {
                throw new IllegalArgumentException("tensor '" + x.name() + "': " + purpose + " registered as a"
                        + " float[] for a " + dtype.label() + " buffer; external tensors are float32");
            }
            if (a != null && (!x.external() || a.length != x.length())) {
                throw new IllegalArgumentException("tensor '" + x.name() + "': " + purpose + " array of " + a.length
                        + " elements for a" + (x.external() ? "" : " store-owned") + " tensor of " + x.length());
            }
        }
    }

    /** The array holding element {@code at} of tensor {@code t}; float32 buffers only. */
    float[] page(int t, long at) {
        float[][] p = live()[t];
        return solo[t] ? p[0] : p[(int) (at >>> PAGE_SHIFT)];
    }

    /** The 16-bit array holding element {@code at} of tensor {@code t}; 16-bit buffers only. */
    short[] hpage(int t, long at) {
        short[][] p = hlive()[t];
        return solo[t] ? p[0] : p[(int) (at >>> PAGE_SHIFT)];
    }

    /** The index of element {@code at} of tensor {@code t} in {@link #page(int, long) its array}. */
    int offset(int t, long at) {
        return solo[t] ? (int) at : base[t] + (int) (at & PAGE_MASK);
    }

    private float[][][] live() {
        float[][][] p = pages;
        if (closed) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
        if (p == null) {
            throw new IllegalStateException("the " + purpose + " buffer holds " + dtype.label() + ", not float32");
        }
        return p;
    }

    private short[][][] hlive() {
        short[][][] p = hpages;
        if (closed) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
        if (p == null) {
            throw new IllegalStateException("the " + purpose + " buffer holds float32, not a 16-bit type");
        }
        return p;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
    }

    private void checkRange(Tensor t, long at, int len, int arrayLength, int from) {
        if (at < 0 || len < 0 || at > t.length() - len) {
            throw new IndexOutOfBoundsException("elements [" + at + ", " + at + " + " + len + ") outside tensor '"
                    + t.name() + "' of " + t.length() + " elements");
        }
        if (from < 0 || from > arrayLength - len) {
            throw new IndexOutOfBoundsException("array range [" + from + ", " + from + " + " + len
                    + ") outside an array of " + arrayLength);
        }
    }

    @Override
    public void write(Tensor t, long at, float[] src, int from, int len) {
        checkRange(t, at, len, src.length, from);
        checkOpen();
        if (dtype.isHalf()) {
            hlive();
            while (len > 0) {
                int n = (int) Math.min(len, PAGE - (at & PAGE_MASK));
                short[] dst = hpage(t.index(), at);
                int o = offset(t.index(), at);
                HalfArrays.get().round(dtype, src, from, dst, o, n);
                at += n;
                from += n;
                len -= n;
            }
            return;
        }
        live();
        while (len > 0) {
            int n = (int) Math.min(len, PAGE - (at & PAGE_MASK));
            System.arraycopy(src, from, page(t.index(), at), offset(t.index(), at), n);
            at += n;
            from += n;
            len -= n;
        }
    }

    @Override
    public void read(Tensor t, long at, float[] dst, int from, int len) {
        checkRange(t, at, len, dst.length, from);
        checkOpen();
        if (dtype.isHalf()) {
            hlive();
            while (len > 0) {
                int n = (int) Math.min(len, PAGE - (at & PAGE_MASK));
                short[] src = hpage(t.index(), at);
                int o = offset(t.index(), at);
                HalfArrays.get().widen(dtype, src, o, dst, from, n);
                at += n;
                from += n;
                len -= n;
            }
            return;
        }
        live();
        while (len > 0) {
            int n = (int) Math.min(len, PAGE - (at & PAGE_MASK));
            System.arraycopy(page(t.index(), at), offset(t.index(), at), dst, from, n);
            at += n;
            from += n;
            len -= n;
        }
    }

    @Override
    public void fill(Tensor t, float value) {
        checkOpen();
        if (dtype.isHalf()) {
            short[][] h = hlive()[t.index()];
            short v = dtype.narrow(value);
            if (t.length() <= PACKED_MAX) {
                int at = base[t.index()];
                Arrays.fill(h[0], at, at + (int) t.length(), v);
                return;
            }
            for (short[] page : h) {
                Arrays.fill(page, v);
            }
            return;
        }
        float[][] p = live()[t.index()];
        if (t.length() <= PACKED_MAX) {
            int at = base[t.index()];
            Arrays.fill(p[0], at, at + (int) t.length(), value);
            return;
        }
        for (float[] page : p) {
            Arrays.fill(page, value);
        }
    }

    @Override
    public void copyFrom(ArenaBuffer other) {
        if (!(other instanceof CpuBuffer)) {
            throw new IllegalArgumentException("cannot copy a " + other.getClass().getSimpleName() + " into a CPU buffer");
        }
        CpuBuffer o = (CpuBuffer) other;
        o.checkOpen();
        checkOpen();
        if (o.dtype != dtype) {
            throw new IllegalArgumentException("cannot copy the " + o.purpose + " buffer (" + o.dtype.label()
                    + ") into the " + purpose + " buffer (" + dtype.label() + ")");
        }
        if (dtype.isHalf()) {
            if (o.harrays.length != harrays.length) {
                throw new IllegalArgumentException("cannot copy the " + o.purpose + " buffer into the " + purpose
                        + " buffer: they hold different layouts");
            }
            for (int i = 0; i < harrays.length; i++) {
                System.arraycopy(o.harrays[i], 0, harrays[i], 0, harrays[i].length);
            }
            return;
        }
        if (o.arrays.length != arrays.length) {
            throw new IllegalArgumentException("cannot copy the " + o.purpose + " buffer into the " + purpose
                    + " buffer: they hold different layouts");
        }
        for (int i = 0; i < arrays.length; i++) {
            System.arraycopy(o.arrays[i], 0, arrays[i], 0, arrays[i].length);
        }
    }

    @Override
    public long address(Tensor t) {
        throw new UnsupportedOperationException("tensor '" + t.name() + "' lives on the CPU backend: it has no device address");
    }

    @Override
    public void close() {
        closed = true;
        pages = null;
        hpages = null;
        arrays = new float[0][];
        harrays = new short[0][];
    }
}
