package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.ParameterStore;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.core.Tensor;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * The chunk table's pointer columns: each chunk of a caller-owned tensor carries the caller's address of its own
 * first parameter and gradient (the tensor's address plus 4 bytes per element before the chunk), 0 where the store
 * holds the tensor; the arena offset stays the state slots' index; caller-owned tensors are placed after the
 * store's own ones, those with caller gradients last.
 */
class ChunkTablePointerTest {
    private static final int D = CudaStepProgram.CHUNK_DESC_BYTES;

    @Test
    void externalChunksCarryTheirOwnAddresses() {
        long wAddress = 0x7f00_0000_0004L;
        long gAddress = 0x7f10_0000_000cL;
        long big = 70_000;
        ArenaLayout layout = ParameterStore.builder()
                .addExternalDevice("x", wAddress, gAddress, big, big)
                .add("a", 100)
                .addExternalDevice("y", 0x7f20_0000_0000L, 0, 5, 5)
                .plan();
        Tensor x = layout.tensors().get(0), a = layout.tensors().get(1), y = layout.tensors().get(2);
        assertEquals(0, a.offset(), "the store's own tensor comes first");
        assertEquals(128, y.offset(), "then the external tensor whose gradients the store holds");
        assertEquals(192, x.offset(), "then the one whose gradients the caller holds");
        assertTrue(x.external() && y.external() && !a.external());
        long[] w = {wAddress, 0, 0x7f20_0000_0000L};
        long[] g = {gAddress, 0, 0};
        ByteBuffer table = CudaStepProgram.encodeChunks(layout, w, g);
        assertEquals(layout.chunkCount() * D, table.remaining());
        assertEquals(5, layout.chunkCount(), "x has three chunks, a and y one each");
        for (int c = 0; c < 3; c++) {
            long start = (long) c * 32_768;
            assertEquals(x.offset() + start, table.getLong(c * D), "chunk " + c + " arena offset");
            assertEquals(0, table.getInt(c * D + 12));
            assertEquals(wAddress + 4 * start, table.getLong(c * D + 16), "chunk " + c + " parameters");
            assertEquals(gAddress + 4 * start, table.getLong(c * D + 24), "chunk " + c + " gradients");
        }
        assertEquals(70_000 - 2 * 32_768, table.getInt(2 * D + 8));
        assertEquals(0, table.getLong(3 * D + 16), "a store-owned tensor has no address of its own");
        assertEquals(0, table.getLong(3 * D + 24));
        assertEquals(0x7f20_0000_0000L, table.getLong(4 * D + 16));
        assertEquals(0, table.getLong(4 * D + 24), "y's gradients are the store's");
        assertEquals(2, table.getInt(4 * D + 12));
    }

    @Test
    void aStoreWithoutExternalTensorsHasZeroPointerColumns() {
        ArenaLayout layout = ParameterStore.builder().add("a", 40_000).add("b", 3).plan();
        ByteBuffer table = CudaStepProgram.encodeChunks(layout);
        for (int c = 0; c < layout.chunkCount(); c++) {
            assertEquals(0, table.getLong(c * D + 16));
            assertEquals(0, table.getLong(c * D + 24));
        }
        assertEquals((40_000 + 63) / 64 * 64, table.getLong(2 * D), "b after a, aligned to 64 elements");
    }
}
