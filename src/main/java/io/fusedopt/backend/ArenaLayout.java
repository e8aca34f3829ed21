package io.fusedopt.backend;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import java.util.List;

/**
 * Where every tensor lives in the arena and how it is cut into chunks: the segment table (offset, length, group
 * per tensor) and the chunk table (tensor, start, length per chunk) that both backends walk.
 *
 * <p>Chunks never straddle tensors and start at multiples of {@link LaunchConfig#CHUNK} from their tensor's first
 * element, so every chunk but a tensor's last is full and 16-byte aligned.
 */
public final class ArenaLayout {
    private final List<Tensor> tensors;
    private final int[] tensorGroup;
    private final int groupCount;
    private final long totalElements;
    private final int[] chunkTensor;
    private final long[] chunkStart;
    private final int[] chunkLength;
    private final int[] firstChunk;

    /**
     * Builds the chunk table for {@code tensors} (already placed by the store) assigned to groups.
     *
     * @throws IllegalArgumentException if the group array does not match or a group index is out of range, or
     *     the tensors need more than {@link Integer#MAX_VALUE} chunks (more than {@link #MAX_ELEMENTS} elements)
     *     or a chunk table larger than half the heap, naming the tensor and its size
     */
    public ArenaLayout(List<Tensor> tensors, int[] tensorGroup, int groupCount, long totalElements) {
        if (tensorGroup.length != tensors.size()) {
            throw new IllegalArgumentException("tensorGroup has " + tensorGroup.length + " entries for "
                    + tensors.size() + " tensors");
        }
        for (int g : tensorGroup) {
            if (g < 0 || g >= groupCount) {
                throw new IllegalArgumentException("group index " + g + " outside [0, " + groupCount + ")");
            }
        }
        this.tensors = List.copyOf(tensors);
        this.tensorGroup = tensorGroup.clone();
        this.groupCount = groupCount;
        this.totalElements = totalElements;
        long chunks = 0;
        for (Tensor t : tensors) {
            chunks += chunksOf(t.length());
            if (chunks > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' of " + t.length() + " elements"
                        + " brings the arena to " + chunks + " chunks of " + LaunchConfig.CHUNK + " elements, more"
                        + " than the " + Integer.MAX_VALUE + " the chunk table holds: an arena holds at most "
                        + MAX_ELEMENTS + " elements");
            }
        }
        // 16 bytes of heap per chunk (tensor, start, length): refuse a table the heap cannot hold before trying.
        long tableBytes = chunks * (Integer.BYTES + Long.BYTES + Integer.BYTES);
        if (tableBytes > Runtime.getRuntime().maxMemory() / 2) {
            Tensor largest = tensors.get(0);
            for (Tensor t : tensors) {
                if (t.length() > largest.length()) {
                    largest = t;
                }
            }
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "tensor '%s' of %d elements is"
                    + " too large: the arena of %d elements needs %d chunks, whose table takes %.1f GiB of heap,"
                    + " more than half of this JVM's %.1f GiB (-Xmx)", largest.name(), largest.length(),
                    totalElements, chunks, tableBytes / (double) (1L << 30),
                    Runtime.getRuntime().maxMemory() / (double) (1L << 30)));
        }
        int n = (int) chunks;
        chunkTensor = new int[n];
        chunkStart = new long[n];
        chunkLength = new int[n];
        firstChunk = new int[tensors.size() + 1];
        int c = 0;
        for (int ti = 0; ti < tensors.size(); ti++) {
            firstChunk[ti] = c;
            long len = tensors.get(ti).length();
            for (long s = 0; s < len; s += LaunchConfig.CHUNK) {
                chunkTensor[c] = ti;
                chunkStart[c] = s;
                chunkLength[c] = (int) Math.min(LaunchConfig.CHUNK, len - s);
                c++;
            }
        }
        firstChunk[tensors.size()] = c;
    }

    /** The most elements the chunk table can cover: {@link Integer#MAX_VALUE} full chunks. */
    public static final long MAX_ELEMENTS = (long) Integer.MAX_VALUE * LaunchConfig.CHUNK;

    /** Number of chunks a tensor of {@code length} elements is cut into; exact up to {@code Long.MAX_VALUE}. */
    public static long chunksOf(long length) {
        // Not (length + CHUNK - 1) / CHUNK, which overflows for lengths near Long.MAX_VALUE.
        return length / LaunchConfig.CHUNK + (length % LaunchConfig.CHUNK == 0 ? 0 : 1);
    }

    /** The tensors, in store order. */
    public List<Tensor> tensors() {
        return tensors;
    }

    /** The group of tensor {@code t}. */
    public int group(int t) {
        return tensorGroup[t];
    }

    /** The group index of every tensor; a copy. */
    public int[] groups() {
        return tensorGroup.clone();
    }

    /** Number of parameter groups. */
    public int groupCount() {
        return groupCount;
    }

    /** Elements the arena spans, padding included. */
    public long totalElements() {
        return totalElements;
    }

    /** Number of chunks over all tensors. */
    public int chunkCount() {
        return chunkTensor.length;
    }

    /** Tensor index of chunk {@code c}. */
    public int chunkTensor(int c) {
        return chunkTensor[c];
    }

    /** Start of chunk {@code c}, in elements from its tensor's first element. */
    public long chunkStart(int c) {
        return chunkStart[c];
    }

    /** Length of chunk {@code c}. */
    public int chunkLength(int c) {
        return chunkLength[c];
    }

    /** The first chunk of tensor {@code t}; chunks of {@code t} run up to {@code firstChunk(t + 1)}. */
    public int firstChunk(int t) {
        return firstChunk[t];
    }
}
