package io.fusedopt;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaPointers} turns addresses into JCuda pointers and back, offsets included, and points at a store's
 * tensors (its own buffers and the caller's memory alike), so JCuda calls through it reach the store's data.
 */
class CudaPointersTest {
    @Test
    void addressesRoundTripThroughJCudaPointers() {
        long a = 0x7f12_3456_7890L;
        assertEquals(a, CudaPointers.address(CudaPointers.pointer(a)));
        assertEquals(a + 12, CudaPointers.address(CudaPointers.pointer(a).withByteOffset(12)));
        assertEquals(a + 12 + 4, CudaPointers.address(CudaPointers.pointer(a + 12).withByteOffset(4)));
    }

    @Test
    void nullAndZeroAreRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CudaPointers.pointer(0)).getMessage()
                .contains("non-zero, got 0x0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CudaPointers.address(null)).getMessage()
                .contains("got null"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CudaPointers.address(new CUdeviceptr()))
                .getMessage().contains("points nowhere"));
    }

    @Test
    void aCpuStoreHasNoDevicePointers() {
        try (Device cpu = Device.cpu(); ParameterStore s = ParameterStore.builder().add("w", 3).build(cpu)) {
            assertThrows(UnsupportedOperationException.class, () -> CudaPointers.parameters(s, "w"));
            assertThrows(UnsupportedOperationException.class, () -> CudaPointers.gradients(s, "w"));
        }
    }

    /** On CUDA: the address of an allocation, and pointers to store tensors that JCuda copies read from. */
    @Test
    @Tag("device")
    void pointersReachTheStoresData() {
        assumeTrue("cuda".equals(System.getProperty("fusedopt.device")), "a CUDA device is under test");
        try (Device device = Device.cuda()) {
            CUdeviceptr mine = new CUdeviceptr();
            assertEquals(0, cuMemAlloc(mine, 64));
            long address = CudaPointers.address(mine);
            assertTrue(address != 0);
            try (ParameterStore s = ParameterStore.builder().add("own", 3)
                    .addExternalDevice("theirs", address + 4, 0, 3, 3).build(device)) {
                assertEquals(address + 4, CudaPointers.address(CudaPointers.parameters(s, "theirs")));
                assertEquals(s.parameterAddress("own"), CudaPointers.address(CudaPointers.parameters(s, "own")));
                assertEquals(s.gradientAddress("theirs"), CudaPointers.address(CudaPointers.gradients(s, "theirs")));
                s.setParameters("own", new float[] {1, 2, 3});
                s.setParameters("theirs", new float[] {4, 5, 6});
                float[] back = new float[3];
                assertEquals(0, cuMemcpyDtoH(Pointer.to(back), CudaPointers.parameters(s, "own"), 12));
                assertArrayEquals(new float[] {1, 2, 3}, back);
                assertEquals(0, cuMemcpyDtoH(Pointer.to(back), CudaPointers.pointer(address).withByteOffset(4), 12));
                assertArrayEquals(new float[] {4, 5, 6}, back, "the store wrote the caller's memory");
            }
            cuMemFree(mine);
        }
    }
}
