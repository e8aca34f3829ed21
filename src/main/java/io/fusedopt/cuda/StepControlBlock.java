package io.fusedopt.cuda;

import io.fusedopt.backend.StepCounters;
import io.fusedopt.backend.StepOptions;
import java.nio.ByteBuffer;

/**
 * The host's view of the step-control block of {@code cuda/include/fusedopt/step_control.cuh}: its byte offsets
 * (held against the device struct by the header's {@code static_assert}s), the initial block of an optimizer, and
 * the counters read back from it.
 */
final class StepControlBlock {
    /** Bytes reserved for the block ahead of the tensor-to-group table ({@code STEP_CONTROL_BYTES}). */
    static final int BYTES = 128;
    /** Bytes of the scalar window's header ({@code STEP_WINDOW_HEADER_BYTES}). */
    static final int WINDOW_HEADER_BYTES = 16;

    static final int SKIP = 0;
    static final int SKIP_PLAIN_UPDATE = 4;
    static final int SKIP_SYNC_UPDATE = 8;
    static final int SKIP_LOOKAHEAD_INIT = 12;
    static final int FOUND = 16;
    static final int NORM_UNSCALE = 20;
    static final int UNSCALE = 24;
    static final int CLIP = 28;
    static final int SCALE = 32;
    static final int GROWTH_TRACKER = 36;
    static final int LAST_SKIPPED = 40;
    static final int ERROR = 44;
    static final int APPLIED = 48;
    static final int SKIPPED = 56;
    static final int GRAD_NORM = 64;
    static final int MAX_NORM = 72;
    static final int GROWTH_FACTOR = 80;
    static final int BACKOFF_FACTOR = 84;
    static final int GROWTH_INTERVAL = 88;
    static final int FLAGS = 92;
    static final int LOOKAHEAD_K = 96;
    static final int HALTED = 100;

    /** {@code StepFlags}. */
    static final int CLIP_FLAG = 1;
    static final int SCALE_LOSS_FLAG = 2;
    static final int SKIP_NON_FINITE_FLAG = 4;
    static final int HALT_ON_SKIP_FLAG = 8;

    private StepControlBlock() {
    }

    /** Writes the configuration of {@code o} and the state of a fresh optimizer into {@code b} (little-endian). */
    static void init(ByteBuffer b, StepOptions o) {
        for (int i = 0; i < BYTES; i += 4) {
            b.putInt(i, 0);
        }
        b.putFloat(NORM_UNSCALE, o.scalesLoss() ? StepOptions.unscale((float) o.initScale()) : 1f);
        b.putFloat(UNSCALE, 1f);
        b.putFloat(CLIP, 1f);
        b.putFloat(SCALE, o.scalesLoss() ? (float) o.initScale() : 0f);
        b.putDouble(GRAD_NORM, Double.NaN);
        b.putDouble(MAX_NORM, o.maxNorm());
        b.putFloat(GROWTH_FACTOR, (float) o.growthFactor());
        b.putFloat(BACKOFF_FACTOR, (float) o.backoffFactor());
        b.putInt(GROWTH_INTERVAL, o.growthInterval());
        b.putInt(FLAGS, (o.clips() ? CLIP_FLAG : 0) | (o.scalesLoss() ? SCALE_LOSS_FLAG : 0)
                | (o.skipNonFinite() ? SKIP_NON_FINITE_FLAG : 0) | (o.haltOnSkip() ? HALT_ON_SKIP_FLAG : 0));
        b.putInt(LOOKAHEAD_K, o.lookaheadK());
    }

    /** Replaces the counts, the loss scale and its tracker in a block read back from the device. */
    static void setCounters(ByteBuffer b, StepOptions o, long applied, long skipped, float scale, int tracker) {
        b.putLong(APPLIED, applied);
        b.putLong(SKIPPED, skipped);
        b.putInt(LAST_SKIPPED, 0);
        // Restored counts start unhalted: a halt belongs to the steps the restore replaces.
        b.putInt(HALTED, 0);
        if (o.scalesLoss()) {
            b.putFloat(SCALE, scale);
            b.putInt(GROWTH_TRACKER, tracker);
            b.putFloat(NORM_UNSCALE, StepOptions.unscale(scale));
        }
    }

    /** The counters of a block read back from the device. */
    static StepCounters counters(ByteBuffer b) {
        return new StepCounters(b.getLong(APPLIED), b.getLong(SKIPPED), b.getInt(LAST_SKIPPED) != 0,
                b.getDouble(GRAD_NORM), b.getFloat(SCALE), b.getInt(GROWTH_TRACKER));
    }

    /** 0, or 1 + the steps refused since a skip halted the optimizer ({@link StepOptions#haltOnSkip}). */
    static int halted(ByteBuffer b) {
        return b.getInt(HALTED);
    }

    /** Whether a step found no scalar row for its count (a fault of the host's window, never expected). */
    static boolean windowMissed(ByteBuffer b) {
        return b.getInt(ERROR) != 0;
    }
}
