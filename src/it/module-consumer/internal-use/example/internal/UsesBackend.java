package example.internal;

import io.fusedopt.cpu.CpuBackend;

/** Refers to the CPU backend, which io.fusedopt does not export. */
public final class UsesBackend {
    public static void main(String[] args) {
        new CpuBackend().close();
    }
}
