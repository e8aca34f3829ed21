package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import org.junit.jupiter.api.Test;

class CpuBufferTest {
    @Test
    void smallTensorsShareAlignedArraysAndLargeOnesHaveTheirOwn() {
        ArenaLayout l = Layouts.of(100, 3, LaunchConfig.CHUNK, LaunchConfig.CHUNK + 1, 7);
        CpuBuffer b = new CpuBuffer(l, "test");
        assertSame(b.page(0, 0), b.page(1, 0));
        assertSame(b.page(0, 0), b.page(2, 0));
        assertNotSame(b.page(0, 0), b.page(3, 0));
        assertNotSame(b.page(3, 0), b.page(4, 0));
        assertEquals(0, b.offset(0, 0));
        assertEquals(112, b.offset(1, 0), "100 rounded up to 16 floats");
        assertEquals(128, b.offset(2, 0));
        assertEquals(128 + 5, b.offset(2, 5));
        assertEquals(0, b.offset(3, 0));
        assertEquals(LaunchConfig.CHUNK, b.offset(3, LaunchConfig.CHUNK));
        assertEquals(LaunchConfig.CHUNK + 1, b.page(3, 0).length);
    }

    @Test
    void aPackHoldsAtMostPackFloatsUnlessOneTensorNeedsMore() {
        int n = CpuBuffer.PACK / LaunchConfig.CHUNK + 1;
        long[] lengths = new long[n];
        java.util.Arrays.fill(lengths, LaunchConfig.CHUNK);
        CpuBuffer b = new CpuBuffer(Layouts.of(lengths), "test");
        assertSame(b.page(0, 0), b.page(n - 2, 0));
        assertNotSame(b.page(0, 0), b.page(n - 1, 0));
        assertEquals(CpuBuffer.PACK, b.page(0, 0).length);
        assertEquals(0, b.offset(n - 1, 0));
    }

    @Test
    void writeReadFillAndCopyTouchOnlyTheirTensor() {
        ArenaLayout l = Layouts.of(5, 20, 3);
        CpuBuffer a = new CpuBuffer(l, "a");
        Tensor t0 = l.tensors().get(0), t1 = l.tensors().get(1), t2 = l.tensors().get(2);
        a.fill(t0, 1f);
        a.fill(t2, 3f);
        float[] src = new float[22];
        for (int i = 0; i < src.length; i++) {
            src[i] = 10 + i;
        }
        a.write(t1, 2, src, 1, 18);
        float[] got = new float[20];
        a.read(t1, 0, got, 0, 20);
        float[] want = new float[20];
        for (int i = 2; i < 20; i++) {
            want[i] = 11 + (i - 2);
        }
        assertArrayEquals(want, got);
        float[] r0 = new float[5], r2 = new float[3];
        a.read(t0, 0, r0, 0, 5);
        a.read(t2, 0, r2, 0, 3);
        assertArrayEquals(new float[] {1, 1, 1, 1, 1}, r0);
        assertArrayEquals(new float[] {3, 3, 3}, r2);
        assertThrows(IndexOutOfBoundsException.class, () -> a.write(t0, 1, src, 0, 5));
        CpuBuffer b = new CpuBuffer(l, "b");
        b.copyFrom(a);
        float[] c1 = new float[20];
        b.read(t1, 0, c1, 0, 20);
        assertArrayEquals(want, c1);
        a.close();
        assertThrows(IllegalStateException.class, () -> a.read(t0, 0, r0, 0, 5));
        assertThrows(IllegalStateException.class, () -> b.copyFrom(a));
    }
}
