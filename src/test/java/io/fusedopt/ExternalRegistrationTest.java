package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fusedopt.emu.StandIn;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad registrations of external tensors are refused with a message naming the tensor and the value: when declared
 * (null, short, shared or overlapping memory, bad addresses), and when built (memory of the other backend, and on
 * CUDA an address outside any device allocation or a range past its allocation's end), with nothing left
 * allocated (the stand-in's allocation count, where it runs).
 */
class ExternalRegistrationTest {
    private static String refused(Executable e) {
        return assertThrows(IllegalArgumentException.class, e).getMessage();
    }

    private static void contains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "'" + message + "' should contain '" + p + "'");
        }
    }

    @Test
    void nullOrMisSizedArraysAreRefused() {
        contains(refused(() -> ParameterStore.builder().addExternal("w", null, 3)), "'w'", "parameters", "null");
        contains(refused(() -> ParameterStore.builder().addExternal("w", new float[2], 3)), "'w'",
                "parameters array has 2 elements", "[3] needs 3");
        contains(refused(() -> ParameterStore.builder().addExternal("w", new float[4], 3)), "'w'", "4 elements");
        contains(refused(() -> ParameterStore.builder().addExternal("w", new float[6], new float[5], 2, 3)), "'w'",
                "gradients array has 5 elements", "[2, 3] needs 6");
    }

    @Test
    void sharedArraysAreRefused() {
        float[] a = new float[3];
        contains(refused(() -> ParameterStore.builder().addExternal("w", a, a, 3)), "'w'",
                "parameters and gradients are the same float[3]");
        contains(refused(() -> ParameterStore.builder().addExternal("a", a, 3).addExternal("b", new float[3], a, 3)),
                "'b'", "gradient array is already registered as the parameters of 'a'");
        float[] g = new float[3];
        contains(refused(() -> ParameterStore.builder().addExternal("a", new float[3], g, 3).addExternal("b", g, 3)),
                "'b'", "parameter array is already registered as the gradients of 'a'");
    }

    @Test
    void duplicateNamesAreRefusedWhateverTheKind() {
        contains(refused(() -> ParameterStore.builder().add("w", 3).addExternal("w", new float[3], 3)),
                "duplicate tensor name 'w'");
        contains(refused(() -> ParameterStore.builder().addExternal("w", new float[3], 3).add("w", 3)),
                "duplicate tensor name 'w'");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10000, 0, 3, 3).add("w", 3)),
                "duplicate tensor name 'w'");
    }

    @Test
    void badDeviceAddressesAreRefused() {
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0, 0, 3, 3)), "'w'",
                "parameter address must be non-zero, got 0x0");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10002, 0, 3, 3)), "'w'",
                "parameter address 0x10002 is not a multiple of 4 bytes");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10000, 0x20001, 3, 3)), "'w'",
                "gradient address 0x20001");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10000, 0, 5, 2, 3)), "'w'",
                "registered with 5 elements at 0x10000", "[2, 3] needs 6");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0xFFFF_FFFF_FFFF_FF00L, 0, 64, 64)),
                "'w'", "run past the end of the address space");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10000, 0, 3, 0)),
                "shape of 'w' must have dimensions >= 1");
    }

    @Test
    void overlappingDeviceRangesAreRefused() {
        // 64 floats are 256 bytes: [0x10000, 0x10100).
        contains(refused(() -> ParameterStore.builder().addExternalDevice("w", 0x10000, 0x10080, 64, 64)), "'w'",
                "gradients at [0x10080, 0x10180) overlap its own parameters at [0x10000, 0x10100)");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("a", 0x10000, 0x20000, 64, 64)
                .addExternalDevice("b", 0x100fc, 0, 64, 64)), "'b'", "overlap the parameters of 'a'");
        contains(refused(() -> ParameterStore.builder().addExternalDevice("a", 0x10000, 0x20000, 64, 64)
                .addExternalDevice("b", 0x30000, 0x1ff04, 64, 64)), "'b'", "gradients", "overlap the gradients of 'a'");
        // Ranges that touch but do not share a byte are fine.
        ParameterStore.builder().addExternalDevice("a", 0x10000, 0x20000, 64, 64)
                .addExternalDevice("b", 0x10100, 0x20100, 64, 64).plan();
    }

    @Test
    void externalTensorsAreRefusedByA16BitStore() {
        try (Device cpu = Device.cpu()) {
            for (io.fusedopt.core.Dtype d : new io.fusedopt.core.Dtype[] {io.fusedopt.core.Dtype.BFLOAT16,
                    io.fusedopt.core.Dtype.FLOAT16}) {
                contains(refused(() -> ParameterStore.builder().dtype(d).add("b", 3)
                        .addExternal("w", new float[3], 3).build(cpu)), "external tensor 'w'", d.label(),
                        "float32");
            }
        }
    }

    @Test
    void deviceAddressesAreRefusedByACpuStore() {
        try (Device cpu = Device.cpu()) {
            contains(refused(() -> ParameterStore.builder().add("b", 3).addExternalDevice("w", 0x10000, 0, 3, 3)
                    .build(cpu)), "'w'", "device address 0x10000", "CPU backend");
            // The device is still usable: nothing was half-built.
            try (ParameterStore s = ParameterStore.builder().add("b", 3).build(cpu)) {
                assertEquals(3, s.parameterCount());
            }
        }
    }

    /** CUDA only: the checks that need the driver, and that a refused build leaves nothing allocated. */
    @Test
    @Tag("device")
    void cudaRefusesArraysAndUnallocatedMemoryLeavingNothingAllocated() {
        try (Device device = TestDevices.device()) {
            assumeTrue(device.backend().name().equals("cuda"), "a CUDA device is under test");
            try (CallerTensors caller = new CallerTensors(device)) {
                long w = caller.allocate(100, 0);
                long before = StandIn.active() ? StandIn.liveAllocations() : -1;
                contains(refused(() -> ParameterStore.builder().add("b", 3).addExternal("w", new float[3], 3)
                        .build(device)), "'w'", "float[3]", "cuda backend", "device address");
                // 100 floats and 16 bytes were allocated: from w + 4, 103 floats fit and 104 do not.
                contains(refused(() -> ParameterStore.builder().add("b", 3)
                        .addExternalDevice("w", w + 4, 0, 104, 104).build(device)), "'w'", "needs 416 bytes",
                        "ends 412 bytes after it");
                ParameterStore.builder().addExternalDevice("w", w + 4, 0, 103, 103).build(device).close();
                // Gradients in no allocation, after the parameter buffer was allocated: it is freed again.
                long nowhere = w + (1L << 40);
                contains(refused(() -> ParameterStore.builder().add("b", 3)
                        .addExternalDevice("w", w, nowhere, 100, 100).build(device)), "'w'", "gradients at 0x"
                        + Long.toHexString(nowhere), "is not device memory");
                if (StandIn.active()) {
                    assertEquals(before, StandIn.liveAllocations(), "a refused store leaves nothing allocated");
                }
                // The same memory, registered correctly, builds and steps.
                try (ParameterStore s = ParameterStore.builder().add("b", 3).addExternalDevice("w", w, 0, 100, 100)
                        .build(device); Optimizer o = Optimizers.adam().build(s)) {
                    assertEquals(w, s.parameterAddress("w"));
                    o.step();
                }
            }
        }
    }
}
