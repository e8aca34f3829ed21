// The decoded form of PTX instructions, shared by the reader (ptx_reader.cpp) and
// the interpreter (interp.cpp). Every operand is resolved at load time:
// registers to slots, labels to instruction indices, symbols to addresses,
// so that executing an instruction never looks at text.
#ifndef FUSEDOPT_EMU_PTX_H
#define FUSEDOPT_EMU_PTX_H

#include <cstdint>
#include <string>
#include <vector>

#include "emu_internal.h"

namespace emu {

enum class Ty : uint8_t {
    none, b8, b16, b32, b64, u8, u16, u32, u64, s8, s16, s32, s64, f16, bf16, f32, f64, pred, f16x2, bf16x2
};

inline int ty_bytes(Ty t) {
    switch (t) {
        case Ty::b8: case Ty::u8: case Ty::s8: return 1;
        case Ty::b16: case Ty::u16: case Ty::s16: case Ty::f16: case Ty::bf16: return 2;
        case Ty::b32: case Ty::u32: case Ty::s32: case Ty::f32: case Ty::f16x2: case Ty::bf16x2: return 4;
        case Ty::b64: case Ty::u64: case Ty::s64: case Ty::f64: return 8;
        default: return 0;
    }
}
inline bool ty_signed(Ty t) { return t == Ty::s8 || t == Ty::s16 || t == Ty::s32 || t == Ty::s64; }
inline bool ty_float(Ty t) { return t == Ty::f16 || t == Ty::bf16 || t == Ty::f32 || t == Ty::f64; }

// The instructions the interpreter executes: those nvcc emits for the project's kernels and the
// stand-in's test kernels. Any other fails the module load.
enum Op : uint8_t {
    OP_MOV, OP_ADD, OP_SUB, OP_MUL, OP_MAD, OP_FMA, OP_DIV, OP_REM, OP_ABS, OP_NEG, OP_MIN, OP_MAX, OP_SQRT,
    OP_RCP, OP_EX2, OP_AND, OP_OR, OP_XOR, OP_NOT, OP_SHL, OP_SHR, OP_SETP, OP_SELP, OP_CVT, OP_CVTA, OP_LD,
    OP_ST, OP_BRA, OP_RET, OP_BAR, OP_BAR_RED, OP_BAR_WARP, OP_SHFL, OP_VOTE, OP_ACTIVEMASK, OP_ATOM, OP_COUNT
};

// Rounding modifiers (.rn .rz .rm .rp; the integer forms .rni .rzi .rmi .rpi).
enum Rnd : uint8_t { R_NONE, R_RN, R_RZ, R_RM, R_RP, R_RNI, R_RZI, R_RMI, R_RPI };

enum Cmp : uint8_t {
    C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_LO, C_LS, C_HI, C_HS, C_EQU, C_NEU, C_LTU, C_LEU, C_GTU, C_GEU,
    C_NUM, C_NAN
};

enum Space : uint8_t { S_GENERIC, S_GLOBAL, S_SHARED, S_PARAM, S_CONST };

// Instruction modifier flags.
enum : uint16_t {
    F_FTZ = 1 << 0, F_SAT = 1 << 1, F_APPROX = 1 << 2, F_HI = 1 << 3, F_LO = 1 << 4, F_WIDE = 1 << 5,
    F_TO = 1 << 6, F_NANMODE = 1 << 7, F_UNI = 1 << 8, F_PAIR = 1 << 9 /* setp/shfl with a second dest */
};

// Sub-operations: shfl modes, vote modes, atom/bar.red operations, bool ops.
enum Sub : uint8_t {
    X_NONE, X_UP, X_DOWN, X_BFLY, X_IDX, X_ALL, X_ANY, X_UNI, X_BALLOT, X_POPC, X_ADD, X_MIN, X_MAX, X_AND,
    X_OR, X_XOR, X_CAS
};

enum OpKind : uint8_t { K_NONE, K_REG, K_IMM, K_SREG, K_VEC, K_ADDR };
constexpr int32_t kVecImm = -2;

// The special registers the kernels read; any other is an undeclared register at load.
enum SReg : uint8_t {
    SR_TID_X, SR_TID_Y, SR_TID_Z, SR_NTID_X, SR_NTID_Y, SR_NTID_Z, SR_CTAID_X, SR_CTAID_Y, SR_CTAID_Z,
    SR_NCTAID_X, SR_NCTAID_Y, SR_NCTAID_Z
};

// Kept small (16 bytes): the interpreter walks arrays of instructions, and their size decides its cache misses.
struct Operand {
    uint8_t kind = K_NONE;
    bool negate = false;  // !%p
    uint8_t count = 0;    // vector length
    uint8_t sreg = 0;
    int32_t reg = -1;     // register slot (K_REG; base of K_ADDR or -1)
    uint64_t imm = 0;     // K_IMM bits; K_ADDR constant part; K_VEC index into Program::vectors
};

// The elements of a vector operand ({%r1, %r2}, {0, %rs6}, setp's p|q).
struct VecOperand {
    int32_t slot[4] = {-1, -1, -1, -1};  // register slots, kVecImm for an immediate
    uint32_t imm[4] = {0, 0, 0, 0};
};

struct Insn {
    uint8_t op = OP_COUNT;
    Ty t = Ty::none;   // instruction type (destination type of cvt/set)
    Ty t2 = Ty::none;  // source type of cvt/set
    uint8_t rnd = R_NONE;
    uint8_t cmp = C_EQ;
    uint8_t boolop = X_NONE;  // setp/set combining op
    uint8_t sub = X_NONE;
    uint8_t space = S_GENERIC;
    uint8_t vec = 1;  // ld/st vector width
    uint16_t flags = 0;
    int32_t guard = -1;  // predicate slot, -1 when unguarded
    bool guard_negated = false;
    bool is_target = false;  // some branch lands here: lanes may reconverge
    uint8_t nops = 0;
    Operand o[5];
    int32_t target = -1;  // bra destination
    int line = 0;         // 1-based line in the PTX text
};

struct Program {
    std::string entry;
    std::vector<Insn> code;
    std::vector<std::string> lines;  // source text of each instruction, for reports
    std::vector<VecOperand> vectors;
    int num_regs = 0;
    size_t static_shared = 0;  // bytes before the dynamic shared window
    bool uses_dynamic_shared = false;
};

// Generic addresses of the shared window: cvta.shared adds this, so generic
// loads and stores can tell shared from global memory.
constexpr uint64_t kSharedWindow = 0x0000100000000000ull;
constexpr uint64_t kSharedWindowSize = 1ull << 32;

}  // namespace emu

#endif
