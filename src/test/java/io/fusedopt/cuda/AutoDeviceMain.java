package io.fusedopt.cuda;

import io.fusedopt.Device;

/**
 * {@code AutoDeviceMain}: opens {@link Device#auto()} and prints {@code backend: NAME} and any fallback reason, then
 * probes JCublas and prints {@code cublas: ok} or why not.
 */
public final class AutoDeviceMain {
    private AutoDeviceMain() {
    }

    /** Runs it. */
    public static void main(String[] args) {
        try (Device d = Device.auto()) {
            System.out.println("backend: " + d.name());
            d.fallbackReason().ifPresent(r -> System.out.println("reason: " + r));
        }
        System.out.println("cublas: " + io.fusedopt.demo.CublasProbe.unavailableReason().orElse("ok"));
    }
}
