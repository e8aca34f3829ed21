// The extern "C" entries of every regime, stamped from one body per rule. Every update entry of a rule has the same
// shape in every regime, so only the element types and the regime's tail change (io.fusedopt.cuda.Kernel derives the
// same list from the registry and the PTX signature test holds the two together):
//
//   <name>_<regime>(w, g, slots..., chunks, num_chunks, tensor_group, scalars, skip_flag [, tensor_state]
//                   [, partials] [, slow, alpha] [, model | , seed, step])
//
// with regime f32, bf16, fp16 (low precision), bf16_master, fp16_master, bf16_master_bf16s (float32 masters, the
// model copy last) or bf16_sr (stochastic rounding of the weights: seed and step last). A body is a function
// template body<Storage, MODE, S>(const Update<Storage, S>&); a norm body norm<Storage, S>(const Norm<Storage, S>&).
#ifndef FUSEDOPT_ENTRIES_CUH
#define FUSEDOPT_ENTRIES_CUH

#include "fusedopt/launch.cuh"

#define FO_SLOTS_0(T)
#define FO_SLOTS_1(T) T* __restrict__ s0,
#define FO_SLOTS_2(T) FO_SLOTS_1(T) T* __restrict__ s1,
#define FO_SLOTS_3(T) FO_SLOTS_2(T) T* __restrict__ s2,
#define FO_SLOTS_4(T) FO_SLOTS_3(T) T* __restrict__ s3,
#define FO_SLOT_ARGS_0 {}
#define FO_SLOT_ARGS_1 {{s0}}
#define FO_SLOT_ARGS_2 {{s0, s1}}
#define FO_SLOT_ARGS_3 {{s0, s1, s2}}
#define FO_SLOT_ARGS_4 {{s0, s1, s2, s3}}

// What follows skip_flag: nothing, the per-tensor state, or the per-tensor state and the partials.
#define FO_EXTRA_NONE
#define FO_EXTRA_TS , const double* __restrict__ tensor_state
#define FO_EXTRA_TSP , const double* __restrict__ tensor_state, float* __restrict__ partials
#define FO_EXTRA_ARGS_NONE nullptr, nullptr
#define FO_EXTRA_ARGS_TS tensor_state, nullptr
#define FO_EXTRA_ARGS_TSP tensor_state, partials

// Each regime's last parameters and the Out it builds from them.
#define FO_TAIL_f32
#define FO_TAIL_bf16
#define FO_TAIL_fp16
#define FO_TAIL_bf16_master , Bf16* __restrict__ model
#define FO_TAIL_fp16_master , Fp16* __restrict__ model
#define FO_TAIL_bf16_master_bf16s , Bf16* __restrict__ model
#define FO_TAIL_bf16_sr , unsigned long long seed, unsigned long long step
#define FO_OUT_f32 {nullptr, 0ull, 0ull}
#define FO_OUT_bf16 {nullptr, 0ull, 0ull}
#define FO_OUT_fp16 {nullptr, 0ull, 0ull}
#define FO_OUT_bf16_master {model, 0ull, 0ull}
#define FO_OUT_fp16_master {model, 0ull, 0ull}
#define FO_OUT_bf16_master_bf16s {model, 0ull, 0ull}
#define FO_OUT_bf16_sr {nullptr, seed, step}

#define FO_UPDATE_HEAD(R, NS)                                                                                    \
    fusedopt::regime::R::Wt* __restrict__ w, const fusedopt::regime::R::Gt* __restrict__ g,                      \
            FO_SLOTS_##NS(fusedopt::regime::R::St) const fusedopt::ChunkDesc* __restrict__ chunks, int num_chunks, \
            const int* __restrict__ tensor_group, const float* __restrict__ scalars,                             \
            const int* __restrict__ skip_flag

// The plain and the Lookahead update entry of one regime.
#define FO_UPDATE_PAIR(NAME, R, NS, EXTRA, BODY)                                                                 \
    extern "C" __global__ void __launch_bounds__(fusedopt::BLOCK)                                                \
    NAME##_##R(FO_UPDATE_HEAD(R, NS) FO_EXTRA_##EXTRA FO_TAIL_##R) {                                             \
        if (*skip_flag != 0) return;                                                                             \
        BODY<fusedopt::regime::R, fusedopt::kStore, NS>(fusedopt::Update<fusedopt::regime::R, NS>{               \
                {chunks, num_chunks, tensor_group}, w, g, FO_SLOT_ARGS_##NS, scalars, FO_EXTRA_ARGS_##EXTRA,     \
                {nullptr, 0.0f}, FO_OUT_##R});                                                                   \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(fusedopt::BLOCK)                                                \
    NAME##_lookahead_##R(FO_UPDATE_HEAD(R, NS) FO_EXTRA_##EXTRA, fusedopt::regime::R::Wt* __restrict__ slow,     \
                         float alpha FO_TAIL_##R) {                                                              \
        if (*skip_flag != 0) return;                                                                             \
        BODY<fusedopt::regime::R, fusedopt::kStore | fusedopt::kLookahead, NS>(                                  \
                fusedopt::Update<fusedopt::regime::R, NS>{{chunks, num_chunks, tensor_group}, w, g,              \
                                                          FO_SLOT_ARGS_##NS, scalars, FO_EXTRA_ARGS_##EXTRA,     \
                                                          {slow, alpha}, FO_OUT_##R});                           \
    }

// The update entries of one rule in every regime.
#define FO_UPDATE_ENTRIES(NAME, NS, EXTRA, BODY)             \
    FO_UPDATE_PAIR(NAME, f32, NS, EXTRA, BODY)               \
    FO_UPDATE_PAIR(NAME, bf16, NS, EXTRA, BODY)              \
    FO_UPDATE_PAIR(NAME, fp16, NS, EXTRA, BODY)              \
    FO_UPDATE_PAIR(NAME, bf16_master, NS, EXTRA, BODY)       \
    FO_UPDATE_PAIR(NAME, fp16_master, NS, EXTRA, BODY)       \
    FO_UPDATE_PAIR(NAME, bf16_master_bf16s, NS, EXTRA, BODY) \
    FO_UPDATE_PAIR(NAME, bf16_sr, NS, EXTRA, BODY)

#define FO_NORM_ENTRY(NAME, R, NS, BODY)                                                                         \
    extern "C" __global__ void __launch_bounds__(fusedopt::BLOCK) NAME##_##R(                                    \
            const fusedopt::regime::R::Wt* __restrict__ w, const fusedopt::regime::R::Gt* __restrict__ g,        \
            FO_SLOTS_##NS(const fusedopt::regime::R::St) const fusedopt::ChunkDesc* __restrict__ chunks,         \
            int num_chunks, const int* __restrict__ tensor_group, const float* __restrict__ scalars,             \
            const int* __restrict__ skip_flag, float* __restrict__ partials) {                                   \
        if (*skip_flag != 0) return;                                                                             \
        BODY<fusedopt::regime::R, NS>(fusedopt::Norm<fusedopt::regime::R, NS>{                                   \
                {chunks, num_chunks, tensor_group}, w, g, FO_SLOT_ARGS_##NS, scalars, partials});                \
    }

// The norm entries of one rule in every regime that stores differently (stochastic rounding reads as bf16).
#define FO_NORM_ENTRIES(NAME, NS, BODY)              \
    FO_NORM_ENTRY(NAME, f32, NS, BODY)               \
    FO_NORM_ENTRY(NAME, bf16, NS, BODY)              \
    FO_NORM_ENTRY(NAME, fp16, NS, BODY)              \
    FO_NORM_ENTRY(NAME, bf16_master, NS, BODY)       \
    FO_NORM_ENTRY(NAME, fp16_master, NS, BODY)       \
    FO_NORM_ENTRY(NAME, bf16_master_bf16s, NS, BODY)

#endif  // FUSEDOPT_ENTRIES_CUH
