// The step-control block: one per optimizer in device memory, it holds everything a step decides on the device
// (whether it is skipped, the gradient coefficient, the applied-step count, the loss scale) so that the host never
// waits for the device inside a step. io.fusedopt.cuda.StepControlLayout mirrors the offsets.
//
// The block sits in one allocation just before the tensor-to-group table, STEP_CONTROL_BYTES ahead of it: every
// rule entry already receives tensor_group, so the walker finds the gradient coefficient of the step there and no
// entry changes its signature. The skip_flag argument of the passes points at one of the gates below.
#ifndef FUSEDOPT_STEP_CONTROL_CUH
#define FUSEDOPT_STEP_CONTROL_CUH

#include <cstddef>

namespace fusedopt {

// step_decide's flags.
// kHaltOnSkip (the THROW policy): a step skipped for a non-finite gradient halts the optimizer on the device, so
// that the steps the host issued before it learnt of the skip change nothing either, until the host clears halted.
enum StepFlags : int { kClip = 1, kScaleLoss = 2, kSkipNonFinite = 4, kHaltOnSkip = 8 };

struct StepControl {
    // Gates, written by step_decide: nonzero means the pass does nothing.
    int skip;                 // every pass of the rule
    int skip_plain_update;    // the update without Lookahead's sync: skipped, or a sync step
    int skip_sync_update;     // the update with Lookahead's sync: skipped, or not a sync step
    int skip_lookahead_init;  // the copy into the slow weights: skipped, or not the first applied step
    int found;                // set by finite_check_f32 / grad_norm_f32 when a gradient is NaN or infinite
    float norm_unscale;       // float32(1 / S) for the next step's norm pass (1 without loss scaling)
    float unscale;            // this step's u: the walker loads (g * unscale) * clip
    float clip;               // this step's clip coefficient (1 without clipping)
    float scale;              // the loss scale S (0 without loss scaling)
    int growth_tracker;       // applied steps in a row since S last changed
    int last_skipped;         // whether the last step was skipped
    int error;                // a step found no scalar row for its count: it was not applied
    long long applied;        // applied steps
    long long skipped;        // skipped steps
    double grad_norm;         // the global norm of the last step (NaN before the first, or without clipping)
    // Configuration, written once by the host.
    double max_norm;
    float growth_factor;
    float backoff_factor;
    int growth_interval;
    int flags;                // StepFlags
    int lookahead_k;          // 0 without Lookahead
    // Written by step_decide under kHaltOnSkip, cleared by the host once it has raised the skip.
    int halted;               // 0, or 1 + the steps refused since a step was skipped
};

// The offsets StepControlBlock.java reads and writes.
static_assert(offsetof(StepControl, found) == 16 && offsetof(StepControl, norm_unscale) == 20 &&
              offsetof(StepControl, unscale) == 24 && offsetof(StepControl, clip) == 28 &&
              offsetof(StepControl, scale) == 32 && offsetof(StepControl, growth_tracker) == 36 &&
              offsetof(StepControl, last_skipped) == 40 && offsetof(StepControl, error) == 44 &&
              offsetof(StepControl, applied) == 48 && offsetof(StepControl, skipped) == 56 &&
              offsetof(StepControl, grad_norm) == 64 && offsetof(StepControl, max_norm) == 72 &&
              offsetof(StepControl, growth_factor) == 80 && offsetof(StepControl, backoff_factor) == 84 &&
              offsetof(StepControl, growth_interval) == 88 && offsetof(StepControl, flags) == 92 &&
              offsetof(StepControl, lookahead_k) == 96 && offsetof(StepControl, halted) == 100,
              "the layout of io.fusedopt.cuda.StepControlBlock");

// Room reserved ahead of the tensor-to-group table; the host allocates the block and the table together.
constexpr int STEP_CONTROL_BYTES = 128;
static_assert(sizeof(StepControl) <= STEP_CONTROL_BYTES, "the step-control block fits its reserved room");

// The block ahead of a tensor-to-group table allocated by the CUDA backend's step program.
__host__ __device__ inline const StepControl* step_control_of(const int* tensor_group) {
    return reinterpret_cast<const StepControl*>(reinterpret_cast<const char*>(tensor_group) - STEP_CONTROL_BYTES);
}

// The scalar window the host uploads each step: rows of the per-step scalars for the applied counts
// base .. base + rows - 1; step_decide copies the row of the step's count into the scalars buffer.
struct StepWindow {
    long long base;
    int rows;
    int row_words;  // 4-byte words per row (float scalars padded to 8 bytes, then double finish scalars)
};
constexpr int STEP_WINDOW_HEADER_BYTES = 16;
static_assert(sizeof(StepWindow) == STEP_WINDOW_HEADER_BYTES, "the host writes a 16-byte window header");

}  // namespace fusedopt

#endif  // FUSEDOPT_STEP_CONTROL_CUH
