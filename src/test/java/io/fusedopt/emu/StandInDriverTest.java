package io.fusedopt.emu;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxPopCurrent;
import static jcuda.driver.JCudaDriver.cuCtxPushCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceComputeCapability;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxGetState;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGetErrorName;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleGetGlobal;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Drives the CPU stand-in for libcuda.so.1 through the raw JCuda driver API, with the test kernels of
 * {@code native-build/emu/test}. Runs only in the {@code cuda-emu} surefire execution.
 */
@Tag("cuda-emu")
class StandInDriverTest {

    private static final int SUCCESS = CUresult.CUDA_SUCCESS;
    private static final int NAN_WORD = 0x7FC00000;

    private static byte[] kernelsPtx;
    private static byte[] faultsPtx;
    private static CUdevice device;

    private CUcontext ctx;
    private CUmodule kernels;

    @BeforeAll
    static void requireStandIn() throws IOException {
        if (System.getProperty("fusedopt.emu.dir") != null) {
            assertTrue(StandIn.active(), StandIn::inactiveReason);
        } else {
            assumeTrue(StandIn.active(), "CUDA stand-in not active: " + StandIn.inactiveReason());
        }
        JCudaDriver.setExceptionsEnabled(false);
        ok(cuInit(0));
        device = new CUdevice();
        ok(cuDeviceGet(device, 0));
        kernelsPtx = ptx("emu_test_kernels");
        faultsPtx = ptx("emu_test_faults");
    }

    private static byte[] ptx(String name) throws IOException {
        byte[] text = Files.readAllBytes(StandIn.directory().resolve("test").resolve(name + ".ptx"));
        return Arrays.copyOf(text, text.length + 1);  // the driver reads PTX up to a NUL
    }

    @BeforeEach
    void newContext() {
        StandIn.clearFaults();
        ctx = new CUcontext();
        ok(cuCtxCreate(ctx, 0, device));
        kernels = new CUmodule();
        ok(cuModuleLoadData(kernels, kernelsPtx));
    }

    @AfterEach
    void destroyContext() {
        StandIn.clearFaults();
        if (ctx != null) {
            ok(cuCtxDestroy(ctx));
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static void ok(int result) {
        expect(SUCCESS, result);
    }

    private static void expect(int expected, int result) {
        assertEquals(CUresult.stringFor(expected), CUresult.stringFor(result),
                () -> "driver said: " + StandIn.lastError());
    }

    private CUfunction function(CUmodule module, String name) {
        CUfunction f = new CUfunction();
        ok(cuModuleGetFunction(f, module, name));
        return f;
    }

    private CUmodule faults() {
        CUmodule m = new CUmodule();
        ok(cuModuleLoadData(m, faultsPtx));
        return m;
    }

    private static CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        ok(cuMemAlloc(p, bytes));
        return p;
    }

    private static CUdeviceptr upload(float[] data) {
        CUdeviceptr p = alloc(4L * data.length);
        ok(cuMemcpyHtoD(p, Pointer.to(data), 4L * data.length));
        return p;
    }

    private static CUdeviceptr upload(int[] data) {
        CUdeviceptr p = alloc(4L * data.length);
        ok(cuMemcpyHtoD(p, Pointer.to(data), 4L * data.length));
        return p;
    }

    private static float[] downloadFloats(CUdeviceptr p, int n) {
        float[] out = new float[n];
        ok(cuMemcpyDtoH(Pointer.to(out), p, 4L * n));
        return out;
    }

    private static int[] downloadInts(CUdeviceptr p, int n) {
        int[] out = new int[n];
        ok(cuMemcpyDtoH(Pointer.to(out), p, 4L * n));
        return out;
    }

    /** kernelParams: a pointer to each argument's value, so device pointers get one more indirection. */
    private static Pointer args(NativePointerObject... values) {
        NativePointerObject[] params = new NativePointerObject[values.length];
        for (int i = 0; i < values.length; i++) {
            params[i] = values[i] instanceof CUdeviceptr ? Pointer.to(values[i]) : values[i];
        }
        return Pointer.to(params);
    }

    /** A device pointer's address, as JCuda prints it ("...nativePointer=0x7f00...,..."). */
    private static long address(CUdeviceptr p) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("nativePointer=0x([0-9a-fA-F]+)").matcher(p.toString());
        assertTrue(m.find(), p.toString());
        return Long.parseUnsignedLong(m.group(1), 16);
    }

    private static Pointer i32(int v) {
        return Pointer.to(new int[] {v});
    }

    private static Pointer f32(float v) {
        return Pointer.to(new float[] {v});
    }

    private static int launch(CUfunction f, int gx, int gy, int bx, int by, int shared, Pointer params) {
        return cuLaunchKernel(f, gx, gy, 1, bx, by, 1, shared, null, params, null);
    }

    private static float[] randomFloats(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** One warp-wide __shfl_down_sync sum step as the device does it: out-of-range lanes read their own value. */
    private static float[] shuffleDownSum(float[] lanes) {
        float[] s = lanes.clone();
        for (int off = 16; off > 0; off >>= 1) {
            float[] next = new float[32];
            for (int l = 0; l < 32; l++) {
                next[l] = s[l] + (l + off < 32 ? s[l + off] : s[l]);
            }
            s = next;
        }
        return s;
    }

    // ---- device identity and initialisation ----------------------------------------------------------------------

    @Test
    void identifiesItselfAsTheStandIn() {
        byte[] name = new byte[256];
        ok(cuDeviceGetName(name, name.length, device));
        String text = new String(name, StandardCharsets.US_ASCII).trim().replace("\0", "");
        assertTrue(text.contains("stand-in"), text);

        int[] major = {0};
        int[] minor = {0};
        ok(cuDeviceComputeCapability(major, minor, device));
        assertEquals(9, major[0]);
        assertEquals(0, minor[0]);
        int[] v = {0};
        ok(cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device));
        assertEquals(9, v[0]);
        ok(cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_WARP_SIZE, device));
        assertEquals(32, v[0]);
        ok(cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, device));
        assertEquals(1024, v[0]);
        ok(cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, device));
        assertEquals(48 * 1024, v[0]);
        ok(cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device));
        assertTrue(v[0] >= 1);
        ok(cuDriverGetVersion(v));
        assertEquals(13000, v[0]);
        ok(cuDeviceGetCount(v));
        assertEquals(1, v[0]);
        expect(CUresult.CUDA_ERROR_INVALID_DEVICE, cuDeviceGet(new CUdevice(), 1));

        long[] total = {0};
        ok(cuDeviceTotalMem(total, device));
        long[] free = {0};
        long[] total2 = {0};
        ok(cuMemGetInfo(free, total2));
        assertEquals(total[0], total2[0]);
        assertTrue(free[0] > 0 && free[0] <= total[0]);

        String[] errorName = {null};
        ok(cuGetErrorName(CUresult.CUDA_ERROR_LAUNCH_FAILED, errorName));
        assertEquals("CUDA_ERROR_LAUNCH_FAILED", errorName[0]);
        ok(cuGetErrorName(CUresult.CUDA_ERROR_INVALID_VALUE, errorName));
        assertEquals("CUDA_ERROR_INVALID_VALUE", errorName[0]);
    }

    @Test
    void callsBeforeCuInitFail() {
        StandIn.forgetInit();
        try {
            expect(CUresult.CUDA_ERROR_NOT_INITIALIZED, cuDeviceGetCount(new int[1]));
            expect(CUresult.CUDA_ERROR_NOT_INITIALIZED, cuDeviceGet(new CUdevice(), 0));
            expect(CUresult.CUDA_ERROR_NOT_INITIALIZED, cuCtxCreate(new CUcontext(), 0, device));
            expect(CUresult.CUDA_ERROR_NOT_INITIALIZED, cuMemAlloc(new CUdeviceptr(), 16));
        } finally {
            ok(cuInit(0));
        }
        ok(cuDeviceGetCount(new int[1]));
    }

    @Test
    void callsWithoutCurrentContextFail() {
        CUcontext popped = new CUcontext();
        ok(cuCtxPopCurrent(popped));
        try {
            expect(CUresult.CUDA_ERROR_INVALID_CONTEXT, cuMemAlloc(new CUdeviceptr(), 16));
            expect(CUresult.CUDA_ERROR_INVALID_CONTEXT, cuCtxSynchronize());
            expect(CUresult.CUDA_ERROR_INVALID_CONTEXT, cuModuleLoadData(new CUmodule(), kernelsPtx));
        } finally {
            ok(cuCtxPushCurrent(popped));
        }
        ok(cuCtxSynchronize());
    }

    @Test
    void primaryContextIsReferenceCounted() {
        CUcontext a = new CUcontext();
        CUcontext b = new CUcontext();
        ok(cuDevicePrimaryCtxRetain(a, device));
        ok(cuDevicePrimaryCtxRetain(b, device));
        assertEquals(a, b);
        int[] flags = {0};
        int[] active = {0};
        ok(cuDevicePrimaryCtxGetState(device, flags, active));
        assertEquals(1, active[0]);
        ok(cuDevicePrimaryCtxRelease(device));
        ok(cuDevicePrimaryCtxRelease(device));
    }

    // ---- memory -------------------------------------------------------------------------------------------------

    @Test
    void newAllocationsAreNaN() {
        CUdeviceptr p = alloc(4 * 1001);
        for (int word : downloadInts(p, 1001)) {
            assertEquals(NAN_WORD, word);
        }
        float[] f = downloadFloats(p, 1001);
        for (float x : f) {
            assertTrue(Float.isNaN(x));
        }
        long[] d = new long[64];
        CUdeviceptr q = alloc(8 * 64);
        ok(cuMemcpyDtoH(Pointer.to(d), q, 8 * 64));
        for (long bits : d) {
            assertEquals(0x7FC000007FC00000L, bits);  // read as double: about 2.2e307, not NaN
        }
        ok(cuMemFree(p));
        ok(cuMemFree(q));
    }

    @Test
    void outOfBoundsCopiesFailAndTouchNothing() {
        float[] data = new float[100];
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
        CUdeviceptr p = upload(data);
        CUdeviceptr other = upload(new float[50]);

        float[] tooMuch = new float[101];
        Arrays.fill(tooMuch, -7f);
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyHtoD(p, Pointer.to(tooMuch), 4 * 101));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyHtoD(p.withByteOffset(8), Pointer.to(tooMuch), 4 * 99));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyDtoH(Pointer.to(tooMuch), p, 4 * 101));
        for (float f : tooMuch) {
            assertEquals(-7f, f);  // the host side was not written either
        }
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyDtoD(other, p, 4 * 51));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyDtoD(p.withByteOffset(4 * 60), other, 4 * 50));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemsetD32(p, 0, 101));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemsetD32(p.withByteOffset(2), 0, 4));
        CUdeviceptr nowhere = p.withByteOffset(1L << 40);
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyHtoD(nowhere, Pointer.to(tooMuch), 4));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemsetD32(nowhere, 0, 1));
        assertTrue(StandIn.lastError().contains("not inside one device allocation"), StandIn.lastError());

        assertArrayEquals(data, downloadFloats(p, 100));
        // A range that fits, starting inside the allocation, is fine.
        ok(cuMemcpyHtoD(p.withByteOffset(4 * 90), Pointer.to(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), 40));
        assertEquals(10f, downloadFloats(p, 100)[99]);
        ok(cuMemFree(p));
        ok(cuMemFree(other));
    }

    @Test
    void leaksAreVisibleUntilFreed() {
        long allocations = StandIn.liveAllocations();
        long bytes = StandIn.liveBytes();
        CUdeviceptr a = alloc(1000);
        CUdeviceptr b = alloc(24);
        assertEquals(allocations + 2, StandIn.liveAllocations());
        assertEquals(bytes + 1024, StandIn.liveBytes());
        ok(cuMemFree(a));
        assertEquals(allocations + 1, StandIn.liveAllocations());
        ok(cuMemFree(b));
        assertEquals(allocations, StandIn.liveAllocations());
        assertEquals(bytes, StandIn.liveBytes());

        // Destroying a context releases what it still owns.
        CUcontext second = new CUcontext();
        ok(cuCtxCreate(second, 0, device));
        alloc(4096);
        assertEquals(allocations + 1, StandIn.liveAllocations());
        ok(cuCtxDestroy(second));
        assertEquals(allocations, StandIn.liveAllocations());

        long hosts = StandIn.liveHostAllocations();
        Pointer pinned = new Pointer();
        ok(cuMemAllocHost(pinned, 256));
        assertEquals(hosts + 1, StandIn.liveHostAllocations());
        ok(cuMemFreeHost(pinned));
        assertEquals(hosts, StandIn.liveHostAllocations());
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemFreeHost(pinned));
    }

    @Test
    void doubleAndForeignFreesAreRejected() {
        CUdeviceptr p = alloc(64);
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemFree(p.withByteOffset(4)));
        ok(cuMemFree(p));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemFree(p));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemFree(p.withByteOffset(1L << 40)));
        ok(cuCtxSynchronize());  // not sticky
    }

    @Test
    void allocationsBeyondTheDeviceMemoryFail() {
        long[] free = {0};
        long[] total = {0};
        ok(cuMemGetInfo(free, total));
        long allocations = StandIn.liveAllocations();
        expect(CUresult.CUDA_ERROR_OUT_OF_MEMORY, cuMemAlloc(new CUdeviceptr(), total[0] + 1));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemAlloc(new CUdeviceptr(), 0));
        assertEquals(allocations, StandIn.liveAllocations());
        ok(cuCtxSynchronize());
    }

    // ---- kernels ------------------------------------------------------------------------------------------------

    @Test
    void twoDimensionalBlocksSeeTheirCoordinates() {
        int width = 37;
        int height = 21;
        CUdeviceptr out = alloc(4L * 6 * width * height);
        int gx = (width + 15) / 16;
        int gy = (height + 7) / 8;
        ok(launch(function(kernels, "emu_coords2d"), gx, gy, 16, 8, 0, args(out, i32(width), i32(height))));
        int[] o = downloadInts(out, 6 * width * height);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int k = 6 * (y * width + x);
                assertEquals(x % 16, o[k], "threadIdx.x");
                assertEquals(y % 8, o[k + 1], "threadIdx.y");
                assertEquals(x / 16, o[k + 2], "blockIdx.x");
                assertEquals(y / 8, o[k + 3], "blockIdx.y");
                assertEquals(16 * 1000 + 8, o[k + 4], "blockDim");
                assertEquals(gx * 1000 + gy, o[k + 5], "gridDim");
            }
        }
    }

    @Test
    void warpOperationsWorkInPartialWarps() {
        int block = 48;  // a full warp and a 16-lane one
        int grid = 2;
        int n = block * grid;
        CUdeviceptr info = alloc(4L * 5 * n);
        CUdeviceptr f = alloc(4L * 4 * n);
        CUdeviceptr d = alloc(8L * n);
        CUdeviceptr ll = alloc(8L * n);
        ok(launch(function(kernels, "emu_warp_ops"), grid, 1, block, 1, 0, args(info, f, d, ll)));
        int[] inf = downloadInts(info, 5 * n);
        float[] fl = downloadFloats(f, 4 * n);
        double[] dd = new double[n];
        ok(cuMemcpyDtoH(Pointer.to(dd), d, 8L * n));
        long[] longs = new long[n];
        ok(cuMemcpyDtoH(Pointer.to(longs), ll, 8L * n));

        for (int g = 0; g < n; g++) {
            int t = g % block;
            int lane = t % 32;
            int warpStart = t - lane;
            int lanes = Math.min(32, block - warpStart);
            int active = lanes == 32 ? -1 : (1 << lanes) - 1;
            int first = g - lane;
            assertEquals(active, inf[5 * g], "activemask of thread " + g);
            assertEquals(0xAAAAAAAA & active, inf[5 * g + 1], "ballot");
            assertEquals(1, inf[5 * g + 2], "any");
            assertEquals(lanes <= 20 ? 1 : 0, inf[5 * g + 3], "all");
            assertEquals(lane, inf[5 * g + 4], "lane");

            float[] s = new float[lanes];
            for (int l = 0; l < lanes; l++) {
                s[l] = first + l + 1;
            }
            for (int off = 16; off > 0; off >>= 1) {
                float[] next = new float[lanes];
                for (int l = 0; l < lanes; l++) {
                    next[l] = s[l] + (l + off < lanes ? s[l + off] : 0f);
                }
                s = next;
            }
            assertEquals(s[lane], fl[4 * g], "guarded shuffle-down sum");
            assertEquals(first + 1f, fl[4 * g + 1], "broadcast from lane 0");
            assertEquals(lane == 0 ? g + 1f : g, fl[4 * g + 2], "shuffle up by one");
            assertEquals(first + (lane ^ 1) + 1f, fl[4 * g + 3], "butterfly within 8 lanes");
            if (lane + 1 < lanes) {
                assertEquals((g + 1) * 0.5, dd[g], "double shuffle down");
            } else if (lanes == 32) {
                assertEquals(g * 0.5, dd[g], "last lane keeps its own value");
            }
            assertEquals((long) (first + (lane | 3)) << 33, longs[g], "64-bit shuffle within 4 lanes");
        }
    }

    @Test
    void sharedMemoryBlockReductionIsBitExact() {
        int n = 1_000_003;
        int grid = 120;
        int block = 256;
        float[] x = randomFloats(n, 42);
        CUdeviceptr dx = upload(x);
        CUdeviceptr sums = alloc(4L * grid);
        CUdeviceptr total = upload(new float[] {0f});
        CUdeviceptr done = upload(new int[] {0});
        CUfunction f = function(kernels, "_Z13emu_block_sumPKfiPfS1_Pj");
        long t0 = System.nanoTime();
        ok(launch(f, grid, 1, block, 1, 0, args(dx, i32(n), sums, total, done)));
        long elapsed = System.nanoTime() - t0;
        System.out.printf("[cuda-emu] block reduction over %d elements (120x256 threads, shuffles + barrier): %.1f ms%n",
                n, elapsed / 1e6);

        float[] expected = new float[grid];
        double sum = 0;
        for (int b = 0; b < grid; b++) {
            float[] partial = new float[32];
            for (int w = 0; w < block / 32; w++) {
                float[] lanes = new float[32];
                for (int l = 0; l < 32; l++) {
                    float s = 0f;
                    for (int i = b * block + w * 32 + l; i < n; i += grid * block) {
                        s += x[i];
                    }
                    lanes[l] = s;
                }
                partial[w] = shuffleDownSum(lanes)[0];
            }
            float[] lanes = new float[32];
            for (int l = 0; l < 32; l++) {
                lanes[l] = l < block / 32 ? partial[l] : 0f;
            }
            expected[b] = shuffleDownSum(lanes)[0];
            sum += expected[b];
        }
        assertArrayEquals(expected, downloadFloats(sums, grid));
        assertEquals(grid, downloadInts(done, 1)[0]);
        // Atomic float adds land in whatever order the blocks finish.
        assertEquals(sum, downloadFloats(total, 1)[0], 1e-3 * Math.max(1.0, Math.abs(sum)));
    }

    @Test
    void dynamicSharedMemoryTreeReduction() {
        int n = 100_003;
        int grid = 64;
        int block = 256;
        float[] x = randomFloats(n, 7);
        CUdeviceptr dx = upload(x);
        CUdeviceptr sums = alloc(4L * grid);
        CUfunction f = function(kernels, "emu_tree_sum");
        ok(launch(f, grid, 1, block, 1, 4 * block, args(dx, i32(n), sums)));
        float[] expected = new float[grid];
        for (int b = 0; b < grid; b++) {
            float[] s = new float[block];
            for (int t = 0; t < block; t++) {
                for (int i = b * block + t; i < n; i += grid * block) {
                    s[t] += x[i];
                }
            }
            for (int k = block / 2; k > 0; k >>= 1) {
                for (int t = 0; t < k; t++) {
                    s[t] += s[t + k];
                }
            }
            expected[b] = s[0];
        }
        assertArrayEquals(expected, downloadFloats(sums, grid));

        // More than 48 KiB of dynamic shared memory needs the function attribute, as on the device.
        int big = 64 * 1024;
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, launch(f, grid, 1, block, 1, big, args(dx, i32(n), sums)));
        ok(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, big));
        ok(launch(f, grid, 1, block, 1, big, args(dx, i32(n), sums)));
        assertArrayEquals(expected, downloadFloats(sums, grid));
    }

    @Test
    void externSharedArraysAlias() {
        int block = 64;
        CUdeviceptr out = alloc(4L * block);
        ok(launch(function(kernels, "emu_dynamic_alias"), 3, 1, block, 1, 4 * block, args(out)));
        int[] o = downloadInts(out, block);
        for (int t = 0; t < block; t++) {
            assertEquals(((t + 1) % block) * 3, o[t]);
        }
    }

    @Test
    void atomicsAcrossBlocks() {
        int n = 100_000;
        int grid = 50;
        int block = 128;
        Random r = new Random(3);
        int[] v = new int[n];
        long sum = 0;
        int max = 0;
        int min = Integer.MAX_VALUE;
        int bits = 0;
        for (int i = 0; i < n; i++) {
            v[i] = r.nextInt(1000);
            sum += v[i];
            max = Math.max(max, v[i]);
            min = Math.min(min, v[i]);
            bits |= 1 << (v[i] & 31);
        }
        CUdeviceptr dv = upload(v);
        CUdeviceptr isum = upload(new int[] {0});
        CUdeviceptr umax = upload(new int[] {0});
        CUdeviceptr imin = upload(new int[] {Integer.MAX_VALUE});
        CUdeviceptr usum = alloc(8);
        ok(cuMemcpyHtoD(usum, Pointer.to(new long[] {0}), 8));
        CUdeviceptr dsum = alloc(8);
        ok(cuMemcpyHtoD(dsum, Pointer.to(new double[] {0}), 8));
        CUdeviceptr fcount = upload(new float[] {0f});
        CUdeviceptr obits = upload(new int[] {0});
        CUdeviceptr winners = upload(new int[] {0});
        CUdeviceptr cas = upload(new int[] {-1});
        ok(launch(function(kernels, "emu_atomics"), grid, 1, block, 1, 0,
                args(dv, i32(n), isum, umax, imin, usum, dsum, fcount, obits, winners, cas)));
        assertEquals((int) sum, downloadInts(isum, 1)[0]);
        assertEquals(max, downloadInts(umax, 1)[0]);
        assertEquals(min - 500, downloadInts(imin, 1)[0]);
        long[] ul = {0};
        ok(cuMemcpyDtoH(Pointer.to(ul), usum, 8));
        assertEquals(sum, ul[0]);
        double[] ds = {0};
        ok(cuMemcpyDtoH(Pointer.to(ds), dsum, 8));
        assertEquals((double) sum, ds[0]);
        assertEquals((float) n, downloadFloats(fcount, 1)[0]);
        assertEquals(bits, downloadInts(obits, 1)[0]);
        assertEquals(1, downloadInts(winners, 1)[0]);
        int winner = downloadInts(cas, 1)[0];
        assertTrue(winner >= 0 && winner < grid * block, "CAS winner " + winner);
    }

    @Test
    void gridStrideLoopOverAMillionElementsMatchesJavaFma() {
        int n = 1_000_003;
        float a = 0.731f;
        float[] x = randomFloats(n, 11);
        float[] y = randomFloats(n, 12);
        CUdeviceptr dx = upload(x);
        CUdeviceptr dy = upload(y);
        CUfunction f = function(kernels, "_Z8emu_axpyPfPKffi");
        StandIn.resetCounters();
        long t0 = System.nanoTime();
        ok(launch(f, 120, 1, 256, 1, 0, args(dy, dx, f32(a), i32(n))));
        long elapsed = System.nanoTime() - t0;
        System.out.printf("[cuda-emu] grid-stride axpy over %d elements (120x256 threads): %.1f ms%n", n, elapsed / 1e6);
        assertEquals(1, StandIn.launches());
        float[] got = downloadFloats(dy, n);
        for (int i = 0; i < n; i++) {
            float want = Math.fma(a, x[i], y[i]);
            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got[i])) {
                assertEquals(want, got[i], "element " + i);
            }
        }
    }

    @Test
    void oneThreadPerElementAdamWMatchesJava() {
        int n = 1_000_003;
        float lr = 1e-3f;
        float beta1 = 0.9f;
        float beta2 = 0.999f;
        float eps = 1e-8f;
        float wd = 0.01f;
        float bias1 = 1f - beta1;
        float bias2 = 1f - beta2;
        float[] p = randomFloats(n, 21);
        float[] g = randomFloats(n, 22);
        float[] m = randomFloats(n, 23);
        float[] v = randomFloats(n, 24);
        for (int i = 0; i < n; i++) {
            v[i] = Math.abs(v[i]);
        }
        CUdeviceptr dp = upload(p);
        CUdeviceptr dg = upload(g);
        CUdeviceptr dm = upload(m);
        CUdeviceptr dv = upload(v);
        CUfunction f = function(kernels, "emu_adamw");
        long t0 = System.nanoTime();
        ok(launch(f, (n + 255) / 256, 1, 256, 1, 0, args(dp, dg, dm, dv, f32(lr), f32(beta1), f32(beta2), f32(eps),
                f32(wd), f32(bias1), f32(bias2), i32(n))));
        long elapsed = System.nanoTime() - t0;
        System.out.printf("[cuda-emu] AdamW, one thread per element, %d elements: %.1f ms%n", n, elapsed / 1e6);
        float[] gotP = downloadFloats(dp, n);
        float[] gotM = downloadFloats(dm, n);
        float[] gotV = downloadFloats(dv, n);
        for (int i = 0; i < n; i++) {
            float gi = g[i];
            float mi = Math.fma(beta1, m[i], (1.0f - beta1) * gi);
            float vi = Math.fma(beta2, v[i], (1.0f - beta2) * gi * gi);
            float mhat = mi / bias1;
            float vhat = vi / bias2;
            float pi = p[i] * (1.0f - lr * wd);
            float want = pi - lr * mhat / ((float) Math.sqrt(vhat) + eps);
            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(gotP[i])
                    || Float.floatToRawIntBits(mi) != Float.floatToRawIntBits(gotM[i])
                    || Float.floatToRawIntBits(vi) != Float.floatToRawIntBits(gotV[i])) {
                assertEquals(want + "/" + mi + "/" + vi, gotP[i] + "/" + gotM[i] + "/" + gotV[i], "element " + i);
            }
        }
    }

    @Test
    void templateInstancesAndScalarParameterTypes() {
        CUdeviceptr fo = alloc(4 * 100);
        ok(launch(function(kernels, "_Z8emu_fillIfEvPT_S0_i"), 1, 1, 128, 1, 0, args(fo, f32(0.5f), i32(100))));
        float[] fv = downloadFloats(fo, 100);
        CUdeviceptr dob = alloc(8 * 100);
        ok(launch(function(kernels, "_Z8emu_fillIdEvPT_S0_i"), 1, 1, 128, 1, 0,
                args(dob, Pointer.to(new double[] {0.25}), i32(100))));
        double[] dv = new double[100];
        ok(cuMemcpyDtoH(Pointer.to(dv), dob, 800));
        for (int i = 0; i < 100; i++) {
            assertEquals(0.5f + i, fv[i]);
            assertEquals(0.25 + i, dv[i]);
        }

        CUdeviceptr out = alloc(8 * 5);
        long big = -5_000_000_000_000_000L;
        ok(launch(function(kernels, "emu_scalar_params"), 1, 1, 1, 1, 0,
                args(Pointer.to(new byte[] {(byte) 200}), Pointer.to(new short[] {-1234}), Pointer.to(new long[] {big}),
                        Pointer.to(new double[] {Math.PI}), f32(1.5f), out)));
        long[] o = new long[5];
        ok(cuMemcpyDtoH(Pointer.to(o), out, 40));
        assertEquals(200, o[0]);
        assertEquals(-1234, o[1]);
        assertEquals(big, o[2]);
        assertEquals(Double.doubleToRawLongBits(Math.PI), o[3]);
        assertEquals(Float.floatToRawIntBits(1.5f), o[4]);
    }

    @Test
    void moduleGlobalsAreDeviceMemory() {
        CUdeviceptr scale = new CUdeviceptr();
        long[] size = {0};
        ok(cuModuleGetGlobal(scale, size, kernels, "emu_scale"));
        assertEquals(4, size[0]);
        ok(cuMemcpyHtoD(scale, Pointer.to(new float[] {3f}), 4));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuMemcpyHtoD(scale, Pointer.to(new float[] {3f, 4f}), 8));
        CUdeviceptr out = alloc(4 * 32);
        ok(launch(function(kernels, "emu_use_global"), 1, 1, 32, 1, 0, args(out)));
        float[] o = downloadFloats(out, 32);
        for (int t = 0; t < 32; t++) {
            assertEquals(3f * t, o[t]);
        }
        ok(cuMemcpyHtoD(scale, Pointer.to(new float[] {2f}), 4));
        expect(CUresult.CUDA_ERROR_NOT_FOUND, cuModuleGetGlobal(new CUdeviceptr(), size, kernels, "emu_nothing"));
    }

    @Test
    void blockWideVotesIn3dBlocks() {
        CUdeviceptr out = alloc(12);
        ok(cuLaunchKernel(function(kernels, "emu_block_votes"), 1, 1, 1, 10, 3, 2, 0, null, args(out), null));
        assertArrayEquals(new int[] {20, 1, 1}, downloadInts(out, 3));
    }

    @Test
    void launchBoundsAndDimensionsAreEnforced() {
        CUfunction bounded = function(kernels, "emu_bounded");
        int[] maxThreads = {0};
        ok(cuFuncGetAttribute(maxThreads, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, bounded));
        assertEquals(64, maxThreads[0]);
        CUdeviceptr out = alloc(4 * 1024);
        ok(launch(bounded, 1, 1, 64, 1, 0, args(out)));
        expect(CUresult.CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, launch(bounded, 1, 1, 128, 1, 0, args(out)));
        CUfunction any = function(kernels, "emu_use_global");
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, launch(any, 1, 1, 1025, 1, 0, args(out)));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, launch(any, 0, 1, 32, 1, 0, args(out)));
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuLaunchKernel(any, 1, 1, 1, 1, 1, 65, 0, null, args(out), null));
        ok(cuCtxSynchronize());  // configuration errors are not sticky
    }

    // ---- failures -----------------------------------------------------------------------------------------------

    @Test
    void returningBeforeABarrierFailsTheLaunchAndPoisonsTheContext() {
        CUmodule m = faults();
        CUfunction f = function(m, "emu_early_return_barrier");
        CUdeviceptr out = alloc(4 * 64);
        ok(launch(f, 1, 1, 64, 1, 0, args(out, i32(64))));  // every thread reaches the barrier: fine
        float[] o = downloadFloats(out, 64);
        assertEquals(1f, o[0]);
        assertEquals(0f, o[63]);

        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(f, 1, 1, 64, 1, 0, args(out, i32(40))));
        assertTrue(StandIn.lastError().contains("__syncthreads"), StandIn.lastError());
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, cuMemAlloc(new CUdeviceptr(), 16));
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, cuCtxSynchronize());
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(f, 1, 1, 64, 1, 0, args(out, i32(64))));

        ok(cuCtxDestroy(ctx));
        ctx = new CUcontext();
        ok(cuCtxCreate(ctx, 0, device));
        ok(cuCtxSynchronize());
        alloc(16);
    }

    @Test
    void divergentWarpAndBlockSynchronisationIsReported() {
        CUfunction f = function(faults(), "emu_divergent_sync");
        CUdeviceptr out = alloc(4 * 32);
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(f, 1, 1, 32, 1, 0, args(out)));
        assertTrue(StandIn.lastError().contains("can never continue"), StandIn.lastError());
    }

    /** The value of each 16-bit pattern of a half-precision format, with NaN for NaNs. */
    private static double[] values16(boolean bf16) {
        double[] v = new double[1 << 16];
        for (int b = 0; b < v.length; b++) {
            if (bf16) {
                v[b] = Float.intBitsToFloat(b << 16);
            } else {
                int e = (b >> 10) & 31;
                int f = b & 1023;
                double mag = e == 0 ? Math.scalb((double) f, -24) : e == 31 ? (f == 0 ? Double.POSITIVE_INFINITY
                        : Double.NaN) : Math.scalb((double) (f + 1024), e - 25);
                v[b] = (b & 0x8000) != 0 ? -mag : mag;
            }
        }
        return v;
    }

    /**
     * The expected conversion of x, found by search over every representable value (independent of any bit
     * trick): round to nearest with ties to the even pattern, or toward zero; NaN gives 0x7FFF.
     */
    private static int expected16(double[] values, float x, boolean towardZero) {
        if (Float.isNaN(x)) {
            return 0x7FFF;
        }
        int sign = x < 0 || (x == 0 && 1 / x < 0) ? 0x8000 : 0;
        double a = Math.abs((double) x);
        int best = 0;
        for (int b = 1; b < 0x8000; b++) {
            double v = values[b];
            if (Double.isNaN(v)) {
                continue;
            }
            if (towardZero) {
                if (v <= a && v > values[best]) {
                    best = b;
                }
            } else {
                double d = Math.abs(v - a);
                double bd = Math.abs(values[best] - a);
                if (Double.isInfinite(v)) {
                    // Infinity is nearest once a reaches the largest finite value plus half its spacing.
                    double maxFinite = values[b - 1];
                    double halfUlp = (maxFinite - values[b - 2]) / 2;
                    if (a >= maxFinite + halfUlp) {
                        best = b;
                    }
                } else if (d < bd || (d == bd && (b & 1) == 0 && !Double.isInfinite(values[best]))) {
                    best = b;
                }
            }
        }
        return sign | best;
    }

    @Test
    void halfPrecisionConversionsRoundAsTheIsaSays() {
        Random r = new Random(3);
        float[] in = new float[512];
        float[] special = {0f, -0f, 1f, -1f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 65504f,
            65519.99f, 65520f, -65520f, 1f + 0x1p-11f, 1f + 0x1p-10f + 0x1p-11f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
            0x1p-14f, 3e38f, -3.3895e38f, Float.MIN_VALUE, 1f + 0x1p-8f, 1f + 0x1p-7f + 0x1p-8f, 0.1f, 1e-40f};
        for (int i = 0; i < in.length; i++) {
            in[i] = i < special.length ? special[i]
                    : (float) (r.nextGaussian() * Math.pow(2, r.nextInt(60) - 30)) * (r.nextBoolean() ? 1 : 70000);
        }
        CUdeviceptr src = upload(in);
        CUdeviceptr bits = alloc(8L * in.length);
        CUdeviceptr back = alloc(8L * in.length);
        ok(launch(function(kernels, "emu_half_convert"), 4, 1, 128, 1, 0, args(src, bits, back, i32(in.length))));
        short[] b = new short[4 * in.length];
        ok(cuMemcpyDtoH(Pointer.to(b), bits, 8L * in.length));
        float[] f = downloadFloats(back, 2 * in.length);
        double[] half = values16(false);
        double[] bf = values16(true);
        for (int i = 0; i < in.length; i++) {
            String at = "input " + in[i] + " (" + Integer.toHexString(Float.floatToRawIntBits(in[i])) + ")";
            assertEquals(expected16(half, in[i], false), b[4 * i] & 0xFFFF, "f16 rn of " + at);
            assertEquals(expected16(half, in[i], true), b[4 * i + 1] & 0xFFFF, "f16 rz of " + at);
            assertEquals(expected16(bf, in[i], false), b[4 * i + 2] & 0xFFFF, "bf16 rn of " + at);
            assertEquals(expected16(bf, in[i], true), b[4 * i + 3] & 0xFFFF, "bf16 rz of " + at);
            int hb = b[4 * i] & 0xFFFF;
            int bb = b[4 * i + 2] & 0xFFFF;
            if (!Double.isNaN(half[hb])) {
                assertEquals((float) half[hb], f[2 * i], "f16 to f32 of " + Integer.toHexString(hb));
            }
            assertEquals(Float.floatToIntBits(Float.intBitsToFloat(bb << 16)), Float.floatToIntBits(f[2 * i + 1]),
                    "bf16 to f32 of " + Integer.toHexString(bb));
        }
    }

    @Test
    void structParametersArriveAsTheirBytes() {
        CUfunction structParam = function(faults(), "emu_struct_param");
        CUdeviceptr out = alloc(4);
        Pointer structBytes = Pointer.to(new int[] {Float.floatToRawIntBits(2f), 3});
        ok(launch(structParam, 1, 1, 1, 1, 0, args(structBytes, out)));
        assertEquals(6f, downloadFloats(out, 1)[0]);
    }

    @Test
    void mismatchedArgumentListsAreRejectedNotCrashed() {
        CUfunction axpy = function(kernels, "_Z8emu_axpyPfPKffi");
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, launch(axpy, 1, 1, 32, 1, 0, null));
        expect(CUresult.CUDA_ERROR_NOT_SUPPORTED, cuLaunchKernel(axpy, 1, 1, 1, 32, 1, 1, 0, null, null,
                Pointer.to(new long[] {0, 0, 0})));
        ok(cuCtxSynchronize());  // refused launches leave the context usable
    }

    // ---- memory and shared-memory checking: one kernel per kind of fault ---------------------------------------

    @Test
    void outOfBoundsLoadsAreReportedWithKernelLineAndAddress() {
        CUfunction f = function(faults(), "emu_load_at");
        CUdeviceptr dst = alloc(4);
        CUdeviceptr src = upload(new float[] {1, 2, 3, 4});
        ok(launch(f, 1, 1, 1, 1, 0, args(dst, src, i32(3))));
        assertEquals(4f, downloadFloats(dst, 1)[0]);
        expect(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, launch(f, 1, 1, 1, 1, 0, args(dst, src, i32(4))));
        String report = StandIn.lastError();
        assertTrue(report.contains("kernel emu_load_at"), report);
        assertTrue(report.matches("(?s).*PTX line \\d+ `ld\\.global\\.[a-z0-9.]*f32 .*"), report);
        assertTrue(report.contains("out of bounds"), report);
        assertTrue(report.contains(String.format("0x%x", address(src) + 16)), report);
    }

    @Test
    void useAfterFreeIsReported() {
        CUfunction f = function(faults(), "emu_load_at");
        CUdeviceptr dst = alloc(4);
        CUdeviceptr src = upload(new float[] {1, 2, 3, 4});
        ok(cuMemFree(src));
        expect(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, launch(f, 1, 1, 1, 1, 0, args(dst, src, i32(1))));
        String report = StandIn.lastError();
        assertTrue(report.contains("kernel emu_load_at") && report.contains("use after free"), report);
        assertTrue(report.contains(String.format("0x%x", address(src) + 4)), report);
    }

    @Test
    void sharedMemoryRacesAreReported() {
        CUfunction f = function(faults(), "emu_shared_race");
        CUdeviceptr out = alloc(4 * 64);
        ok(launch(f, 1, 1, 1, 1, 0, args(out)));  // one thread: nothing to race with
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(f, 1, 1, 64, 1, 0, args(out)));
        String report = StandIn.lastError();
        assertTrue(report.contains("kernel emu_shared_race") && report.contains("shared-memory race"), report);
        assertTrue(report.contains("st.shared.f32"), report);
    }

    @Test
    void readsOfUninitialisedSharedMemoryAreReported() {
        CUfunction f = function(faults(), "emu_shared_uninitialised");
        CUdeviceptr out = alloc(4 * 64);
        ok(launch(f, 1, 1, 32, 1, 0, args(out)));
        assertEquals(31f, downloadFloats(out, 32)[31]);
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(f, 1, 1, 64, 1, 0, args(out)));
        String report = StandIn.lastError();
        assertTrue(report.contains("kernel emu_shared_uninitialised"), report);
        assertTrue(report.contains("uninitialised shared memory at offset 128"), report);
        assertTrue(report.contains("thread (32,0,0)"), report);
    }

    @Test
    void moduleLoadingErrors() {
        expect(CUresult.CUDA_ERROR_NOT_FOUND, cuModuleGetFunction(new CUfunction(), kernels, "emu_no_such_kernel"));
        byte[] elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0};
        expect(CUresult.CUDA_ERROR_INVALID_IMAGE, cuModuleLoadData(new CUmodule(), elf));
        byte[] fatbin = {0x50, (byte) 0xED, 0x55, (byte) 0xBA, 1, 0, 0, 0, 0};
        expect(CUresult.CUDA_ERROR_INVALID_IMAGE, cuModuleLoadData(new CUmodule(), fatbin));
        expect(CUresult.CUDA_ERROR_INVALID_IMAGE,
                cuModuleLoadData(new CUmodule(), "just some text\0".getBytes(StandardCharsets.US_ASCII)));
        String unsupported = ".version 8.0\n.target sm_80\n.address_size 64\n"
                + ".visible .entry emu_needs_sad(\n\t.param .u64 p\n)\n{\n\t.reg .b32 %r<2>;\n"
                + "\tsad.u32 %r1, %r0, %r0, %r0;\n\tret;\n}\n\0";
        expect(CUresult.CUDA_ERROR_INVALID_PTX,
                cuModuleLoadData(new CUmodule(), unsupported.getBytes(StandardCharsets.US_ASCII)));
        assertTrue(StandIn.lastError().contains("unsupported PTX instruction 'sad.u32'"), StandIn.lastError());
        assertTrue(StandIn.lastError().contains("line 9"), StandIn.lastError());
    }

    @Test
    void faultInjection() {
        long allocations = StandIn.liveAllocations();
        StandIn.failNth("alloc", 2, StandIn.OUT_OF_MEMORY);
        CUdeviceptr a = alloc(64);
        expect(CUresult.CUDA_ERROR_OUT_OF_MEMORY, cuMemAlloc(new CUdeviceptr(), 64));
        CUdeviceptr b = alloc(64);  // once only
        assertEquals(allocations + 2, StandIn.liveAllocations());

        float[] host = {1, 2, 3, 4};
        ok(cuMemcpyHtoD(a, Pointer.to(host), 16));
        StandIn.failNth("copy", 1, CUresult.CUDA_ERROR_UNKNOWN);
        float[] back = new float[4];
        expect(CUresult.CUDA_ERROR_UNKNOWN, cuMemcpyDtoH(Pointer.to(back), a, 16));
        assertArrayEquals(new float[4], back);
        assertArrayEquals(host, downloadFloats(a, 4));

        StandIn.failNth("any", 3, CUresult.CUDA_ERROR_INVALID_VALUE);
        ok(cuCtxSynchronize());
        ok(cuCtxSynchronize());
        expect(CUresult.CUDA_ERROR_INVALID_VALUE, cuCtxSynchronize());
        ok(cuCtxSynchronize());

        assertThrows(IllegalArgumentException.class, () -> StandIn.failNth("teleport", 1, 1));
        assertThrows(IllegalArgumentException.class, () -> StandIn.failNth("alloc", 0, 1));

        StandIn.failNth("alloc", 1, StandIn.OUT_OF_MEMORY);
        StandIn.clearFaults();
        ok(cuMemFree(alloc(8)));

        // An injected kernel failure poisons the context like a real one.
        StandIn.failNth("launch", 1, StandIn.LAUNCH_FAILED);
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, launch(function(kernels, "emu_use_global"), 1, 1, 1, 1, 0, args(b)));
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, cuCtxSynchronize());
        expect(CUresult.CUDA_ERROR_LAUNCH_FAILED, cuMemFree(b));
    }

    @Test
    void countersSeparateCopiesLaunchesAndSynchronisations() {
        CUdeviceptr a = alloc(64);
        CUdeviceptr b = alloc(64);
        CUfunction f = function(kernels, "emu_use_global");
        CUstream stream = new CUstream();
        ok(cuStreamCreate(stream, 0));
        CUevent start = new CUevent();
        CUevent end = new CUevent();
        ok(cuEventCreate(start, 0));
        ok(cuEventCreate(end, 0));
        float[] host = new float[16];

        StandIn.resetCounters();
        ok(cuEventRecord(start, stream));
        ok(cuMemcpyHtoD(a, Pointer.to(host), 64));
        ok(cuMemcpyHtoD(b, Pointer.to(host), 64));
        ok(cuMemcpyHtoDAsync(a, Pointer.to(host), 64, stream));
        ok(launch(f, 1, 1, 16, 1, 0, args(a)));
        ok(cuMemcpyDtoD(b, a, 64));
        ok(cuMemcpyDtoHAsync(Pointer.to(host), a, 64, stream));
        ok(cuMemcpyDtoH(Pointer.to(host), b, 64));
        ok(cuStreamSynchronize(stream));
        ok(cuCtxSynchronize());
        ok(cuEventRecord(end, stream));
        ok(cuEventSynchronize(end));

        assertEquals(6, StandIn.copies());
        assertEquals(4, StandIn.blockingCopies());
        assertEquals(2, StandIn.countCategory("async_copy"));
        assertEquals(1, StandIn.launches());
        assertEquals(3, StandIn.synchronizations());
        assertEquals(2, StandIn.count("cuMemcpyHtoD_v2"));
        assertEquals(1, StandIn.count("cuMemcpyHtoDAsync_v2"));
        assertEquals(1, StandIn.count("cuMemcpyDtoD_v2"));
        assertEquals(2, StandIn.count("cuEventRecord"));
        assertEquals(0, StandIn.count("cuMemAlloc_v2"));
        assertEquals(2f, downloadFloats(b, 16)[1]);

        float[] ms = {-1f};
        ok(cuEventElapsedTime(ms, start, end));
        assertTrue(ms[0] >= 0f);
        ok(cuEventDestroy(start));
        ok(cuEventDestroy(end));
        ok(cuStreamDestroy(stream));
        assertNotEquals(0, StandIn.countCategory("any"));
    }
}
