package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Arena layouts for the CPU backend's tests, placed as the parameter store places them. */
final class Layouts {
    private Layouts() {
    }

    /** One group; tensors of {@code lengths}, each aligned to {@link LaunchConfig#ALIGN} elements. */
    static ArenaLayout of(long... lengths) {
        List<Tensor> tensors = new ArrayList<>();
        long offset = 0;
        for (int i = 0; i < lengths.length; i++) {
            tensors.add(new Tensor("t" + i, new long[] {lengths[i]}, offset, lengths[i], i));
            long end = offset + lengths[i];
            offset = end + (LaunchConfig.ALIGN - end % LaunchConfig.ALIGN) % LaunchConfig.ALIGN;
        }
        return new ArenaLayout(tensors, new int[tensors.size()], 1, offset);
    }

    /** {@code count} tensors of {@code length} elements. */
    static ArenaLayout uniform(int count, long length) {
        long[] l = new long[count];
        java.util.Arrays.fill(l, length);
        return of(l);
    }
}
