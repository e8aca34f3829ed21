package io.fusedopt.cpu;

import io.fusedopt.core.FusedOptException;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import java.util.Arrays;
import java.util.List;

/**
 * A CPU arena buffer: each tensor's elements in pages of {@link #PAGE} floats on the Java heap, so tensors of
 * 2^31 elements and more fit. Chunks never straddle a page, because {@link io.fusedopt.core.LaunchConfig#CHUNK}
 * divides {@link #PAGE} and pages are counted from each tensor's first element.
 */
final class CpuBuffer implements ArenaBuffer {
    /** Floats per page: 2^30 (4 GiB). */
    static final int PAGE_SHIFT = 30;
    static final long PAGE = 1L << PAGE_SHIFT;
    static final long PAGE_MASK = PAGE - 1;

    private final List<Tensor> tensors;
    private final String purpose;
    private float[][][] pages;

    CpuBuffer(ArenaLayout layout, String purpose) {
        this.tensors = layout.tensors();
        this.purpose = purpose;
        float[][][] p = new float[tensors.size()][][];
        try {
            for (int t = 0; t < p.length; t++) {
                long len = tensors.get(t).length();
                int n = (int) ((len + PAGE - 1) >>> PAGE_SHIFT);
                p[t] = new float[n][];
                for (int k = 0; k < n; k++) {
                    p[t][k] = new float[(int) Math.min(PAGE, len - ((long) k << PAGE_SHIFT))];
                }
            }
        } catch (OutOfMemoryError e) {
            throw new io.fusedopt.core.FusedOptException("out of Java heap allocating the " + purpose
                    + " buffer of the CPU arena (" + layout.totalElements() + " elements); raise -Xmx", e);
        }
        this.pages = p;
    }

    /** The page holding element {@code at} of tensor {@code t}. */
    float[] page(int t, long at) {
        return live()[t][(int) (at >>> PAGE_SHIFT)];
    }

    private float[][][] live() {
        float[][][] p = pages;
        if (p == null) {
            throw new IllegalStateException("the " + purpose + " buffer is closed");
        }
        return p;
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
        float[][] p = live()[t.index()];
        while (len > 0) {
            int page = (int) (at >>> PAGE_SHIFT);
            int off = (int) (at & PAGE_MASK);
            int n = Math.min(len, p[page].length - off);
            System.arraycopy(src, from, p[page], off, n);
            at += n;
            from += n;
            len -= n;
        }
    }

    @Override
    public void read(Tensor t, long at, float[] dst, int from, int len) {
        checkRange(t, at, len, dst.length, from);
        float[][] p = live()[t.index()];
        while (len > 0) {
            int page = (int) (at >>> PAGE_SHIFT);
            int off = (int) (at & PAGE_MASK);
            int n = Math.min(len, p[page].length - off);
            System.arraycopy(p[page], off, dst, from, n);
            at += n;
            from += n;
            len -= n;
        }
    }

    @Override
    public void fill(Tensor t, float value) {
        for (float[] page : live()[t.index()]) {
            Arrays.fill(page, value);
        }
    }

    @Override
    public void copyFrom(ArenaBuffer other) {
        if (!(other instanceof CpuBuffer)) {
            throw new IllegalArgumentException("cannot copy a " + other.getClass().getSimpleName() + " into a CPU buffer");
        }
        float[][][] src = ((CpuBuffer) other).live();
        float[][][] dst = live();
        for (int t = 0; t < dst.length; t++) {
            for (int k = 0; k < dst[t].length; k++) {
                System.arraycopy(src[t][k], 0, dst[t][k], 0, dst[t][k].length);
            }
        }
    }

    @Override
    public long address(Tensor t) {
        throw new UnsupportedOperationException("tensor '" + t.name() + "' lives on the CPU backend: it has no device address");
    }

    @Override
    public void close() {
        pages = null;
    }
}
