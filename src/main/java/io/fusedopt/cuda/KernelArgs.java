package io.fusedopt.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/** A kernel's argument list, recorded with its kinds so a launch can be checked against {@link Kernel#params()}. */
final class KernelArgs {
    private final List<Kernel.Param> kinds = new ArrayList<>();
    private final List<Pointer> values = new ArrayList<>();

    /** Appends a device pointer (null pointers are not allowed: a kernel uses every argument it takes). */
    KernelArgs ptr(CUdeviceptr p) {
        if (p == null) {
            throw new IllegalArgumentException("kernel argument " + kinds.size() + " is a null device pointer");
        }
        kinds.add(Kernel.Param.PTR);
        values.add(Pointer.to(p));
        return this;
    }

    /** Appends an unsigned 64-bit integer ({@code .u64} in the PTX, the kind of a pointer). */
    KernelArgs u64(long v) {
        kinds.add(Kernel.Param.PTR);
        values.add(Pointer.to(new long[] {v}));
        return this;
    }

    /** Appends a 32-bit int. */
    KernelArgs i32(int v) {
        kinds.add(Kernel.Param.INT);
        values.add(Pointer.to(new int[] {v}));
        return this;
    }

    /** Appends a 32-bit float. */
    KernelArgs f32(float v) {
        kinds.add(Kernel.Param.FLOAT);
        values.add(Pointer.to(new float[] {v}));
        return this;
    }

    /** The kinds appended so far. */
    List<Kernel.Param> kinds() {
        return kinds;
    }

    /** Checks the arguments against {@code k}'s parameter list and returns JCuda's {@code void**}. */
    Pointer toKernelParams(Kernel k) {
        if (!kinds.equals(k.params())) {
            throw new IllegalStateException("arguments " + kinds + " do not match kernel " + k.entry() + k.params());
        }
        return Pointer.to(values.toArray(new Pointer[0]));
    }
}
