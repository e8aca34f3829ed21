package io.fusedopt.emu;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;

/**
 * Test-side control of the fusedopt CPU stand-in for the CUDA driver ({@code target/cuda-emu/libcuda.so.1}, built
 * by {@code native-build/emu/build.sh}).
 *
 * <p>The stand-in replaces the real driver only when the JVM was started with {@code LD_LIBRARY_PATH} pointing at
 * its directory (the {@code cuda-emu} surefire execution does this). This class loads the small JNI bridge
 * {@code libfusedopt_emu_ctl.so} from the directory named by the system property {@code fusedopt.emu.dir}, or else
 * from the first {@code LD_LIBRARY_PATH} entry that contains it. The bridge binds to whatever {@code libcuda.so.1}
 * the process resolves (exactly the one JCuda gets) and never loads the stand-in by itself; if that library is a
 * real driver, or no driver can be found, {@link #active()} is {@code false} and every other method throws
 * {@link IllegalStateException}.
 *
 * <p>Counters count calls of the driver's exported entry points by their real symbol names, which for the common
 * calls carry the {@code _v2} suffix: {@code cuMemAlloc_v2}, {@code cuMemcpyHtoD_v2}, {@code cuCtxCreate_v2} ...
 * Categories group them:
 * <ul>
 *   <li>{@code copy}: every memcpy (HtoD, DtoH, DtoD, unified and peer, synchronous and async);
 *   <li>{@code blocking_copy}: the synchronous ones; {@code async_copy}: the {@code *Async} ones;
 *   <li>{@code launch}: {@code cuLaunchKernel}, {@code cuLaunchCooperativeKernel};
 *   <li>{@code sync}: {@code cuCtxSynchronize}, {@code cuStreamSynchronize}, {@code cuEventSynchronize};
 *   <li>{@code alloc}: device, managed and pinned host allocations; {@code free}: their frees;
 *   <li>{@code memset}: the {@code cuMemsetD8/16/32} family; {@code module}: module loads, unloads and look-ups;
 *   <li>{@code graph_launch}: {@code cuGraphLaunch}; the kernels, copies and memsets a graph replays are not calls
 *       and are not counted;
 *   <li>{@code any}: every driver call.
 * </ul>
 *
 * <p>All state is process-wide: tests that use it should not run concurrently with other driver users.
 */
public final class StandIn {

    /** {@code CUDA_ERROR_OUT_OF_MEMORY}, a typical code to inject into allocations. */
    public static final int OUT_OF_MEMORY = 2;
    /** {@code CUDA_ERROR_LAUNCH_FAILED}, a typical code to inject into launches; it makes the context sticky. */
    public static final int LAUNCH_FAILED = 719;
    /** {@code CUDA_ERROR_ILLEGAL_ADDRESS}; also sticky when injected. */
    public static final int ILLEGAL_ADDRESS = 700;

    private static final String CTL_LIBRARY = "libfusedopt_emu_ctl.so";
    private static final String LOAD_PROBLEM;
    private static final Path DIRECTORY;

    static {
        Path dir = locate();
        String problem = null;
        if (dir == null) {
            problem = "no " + CTL_LIBRARY + " in -Dfusedopt.emu.dir or LD_LIBRARY_PATH";
        } else {
            try {
                System.load(dir.resolve(CTL_LIBRARY).toAbsolutePath().toString());
            } catch (UnsatisfiedLinkError e) {
                problem = "cannot load " + dir.resolve(CTL_LIBRARY) + ": " + e.getMessage();
            }
        }
        if (problem == null && !nativeActive()) {
            problem = "the libcuda.so.1 this process uses is not the fusedopt stand-in"
                    + " (start the JVM with LD_LIBRARY_PATH=" + dir + ")";
        }
        DIRECTORY = dir;
        LOAD_PROBLEM = problem;
    }

    private StandIn() {
    }

    private static Path locate() {
        String property = System.getProperty("fusedopt.emu.dir");
        if (property != null && !property.isBlank()) {
            Path p = Paths.get(property);
            return Files.isRegularFile(p.resolve(CTL_LIBRARY)) ? p : null;
        }
        String path = System.getenv("LD_LIBRARY_PATH");
        if (path == null) {
            return null;
        }
        for (String entry : path.split(File.pathSeparator)) {
            if (!entry.isEmpty() && Files.isRegularFile(Paths.get(entry, CTL_LIBRARY))) {
                return Paths.get(entry);
            }
        }
        return null;
    }

    /**
     * Whether the CUDA driver of this process is the stand-in.
     *
     * @return {@code true} when the control library loaded and the process's {@code libcuda.so.1} is the stand-in
     */
    public static boolean active() {
        return LOAD_PROBLEM == null;
    }

    /**
     * Why {@link #active()} is false.
     *
     * @return a human-readable reason, or {@code null} when the stand-in is active
     */
    public static String inactiveReason() {
        return LOAD_PROBLEM;
    }

    /**
     * The directory holding the stand-in and its kernel libraries ({@code target/cuda-emu}).
     *
     * @return the directory, or {@code null} when it could not be found
     */
    public static Path directory() {
        return DIRECTORY;
    }

    private static void requireActive() {
        if (LOAD_PROBLEM != null) {
            throw new IllegalStateException("fusedopt CUDA stand-in not active: " + LOAD_PROBLEM);
        }
    }

    /** Sets every call counter to zero (allocation tracking is not affected). */
    public static void resetCounters() {
        requireActive();
        nativeResetCounters();
    }

    /**
     * Calls of one driver entry point since the last {@link #resetCounters()}.
     *
     * @param driverFunctionName the exported symbol, e.g. {@code "cuLaunchKernel"} or {@code "cuMemcpyHtoD_v2"}
     * @return the number of calls, 0 for a name never called
     */
    public static long count(String driverFunctionName) {
        requireActive();
        return nativeCount(driverFunctionName);
    }

    /**
     * Calls of all driver entry points of a category since the last {@link #resetCounters()}.
     *
     * @param category one of {@code copy, blocking_copy, async_copy, launch, sync, alloc, free, memset, module,
     *                 graph_launch, any}
     * @return the number of calls
     * @throws IllegalArgumentException for an unknown category
     */
    public static long countCategory(String category) {
        requireActive();
        long n = nativeCountCategory(category);
        if (n < 0) {
            throw new IllegalArgumentException("unknown stand-in category: " + category);
        }
        return n;
    }

    /**
     * Kernel launches ({@code cuLaunchKernel} and {@code cuLaunchCooperativeKernel}), failed ones included.
     *
     * @return the number of launch calls
     */
    public static long launches() {
        return countCategory("launch");
    }

    /**
     * Graph launches ({@code cuGraphLaunch}), failed ones included; what the graphs run is not counted as launches.
     *
     * @return the number of graph launch calls
     */
    public static long graphLaunches() {
        return countCategory("graph_launch");
    }

    /**
     * All memory copies: HtoD, DtoH, DtoD, unified and peer, synchronous and {@code Async}.
     *
     * @return the number of copy calls
     */
    public static long copies() {
        return countCategory("copy");
    }

    /**
     * Synchronous (host-blocking) copies only: {@code cuMemcpyHtoD_v2}, {@code cuMemcpyDtoH_v2},
     * {@code cuMemcpyDtoD_v2}, {@code cuMemcpy}. They are not counted as synchronisations.
     *
     * @return the number of blocking copy calls
     */
    public static long blockingCopies() {
        return countCategory("blocking_copy");
    }

    /**
     * Explicit synchronisations: {@code cuCtxSynchronize}, {@code cuStreamSynchronize} and
     * {@code cuEventSynchronize}.
     *
     * @return the number of synchronize calls
     */
    public static long synchronizations() {
        return countCategory("sync");
    }

    /**
     * Live device allocations ({@code cuMemAlloc}, {@code cuMemAllocManaged}), across all
     * contexts. Destroying a context frees its allocations.
     *
     * @return the number of allocations not yet freed
     */
    public static long liveAllocations() {
        requireActive();
        return nativeLiveAllocations();
    }

    /**
     * Bytes of the live device allocations, as requested (not rounded up).
     *
     * @return the total size of the live device allocations
     */
    public static long liveBytes() {
        requireActive();
        return nativeLiveBytes();
    }

    /**
     * Live pinned host allocations ({@code cuMemAllocHost}, {@code cuMemHostAlloc}).
     *
     * @return the number of pinned host allocations not yet freed
     */
    public static long liveHostAllocations() {
        requireActive();
        return nativeLiveHostAllocations();
    }

    /**
     * Makes the {@code n}-th driver call of a category from now fail once with {@code cudaErrorCode} (the call
     * then does nothing else). Categories are those of {@link #countCategory(String)}; {@code any} counts every
     * call except {@code cuGetErrorName}/{@code cuGetErrorString}. Arming a category again replaces its pending
     * fault. A fault whose code is a kernel-execution error ({@code 700, 702, 710, 714..719}) also makes the current
     * context sticky, as a real failing kernel would: later calls in it return the same code until it is destroyed
     * or (primary context) reset.
     *
     * @param category which calls to count
     * @param n        1 for the next such call
     * @param cudaErrorCode the {@code CUresult} to return
     * @throws IllegalArgumentException for an unknown category or {@code n < 1}
     */
    public static void failNth(String category, int n, int cudaErrorCode) {
        requireActive();
        int r = nativeFailNth(category.toLowerCase(Locale.ROOT), n, cudaErrorCode);
        if (r == -1) {
            throw new IllegalArgumentException("unknown stand-in category: " + category);
        }
        if (r == -2) {
            throw new IllegalArgumentException("n must be at least 1: " + n);
        }
    }

    /** Disarms every pending injected fault. */
    public static void clearFaults() {
        requireActive();
        nativeClearFaults();
    }

    /**
     * The explanation of the most recent failed driver call, e.g. which thread reached {@code __syncthreads()} after
     * others had returned, or which copy range was outside its allocation.
     *
     * @return the message, empty if nothing failed yet
     */
    public static String lastError() {
        requireActive();
        return nativeLastError();
    }

    /**
     * Test hook: makes the stand-in behave as if {@code cuInit} had not been called yet, so that the
     * {@code CUDA_ERROR_NOT_INITIALIZED} paths can be exercised in a JVM that already initialised the driver.
     * Contexts and allocations survive; the next {@code cuInit(0)} restores normal operation.
     */
    public static void forgetInit() {
        requireActive();
        nativeForgetInit();
    }

    private static native boolean nativeActive();

    private static native void nativeResetCounters();

    private static native long nativeCount(String name);

    private static native long nativeCountCategory(String category);

    private static native long nativeLiveAllocations();

    private static native long nativeLiveBytes();

    private static native long nativeLiveHostAllocations();

    private static native int nativeFailNth(String category, int n, int code);

    private static native void nativeClearFaults();

    private static native String nativeLastError();

    private static native void nativeForgetInit();

    private static native void nativeOverrideModule(String ptx);

    /**
     * Makes every later module load whose entries have the same names as {@code ptx}'s load {@code ptx} instead
     * (from a fatbin or PTX alike); {@code null} ends that.
     *
     * @throws IllegalStateException when the stand-in is not active
     */
    public static void overrideModule(String ptx) {
        requireActive();
        nativeOverrideModule(ptx);
    }
}
