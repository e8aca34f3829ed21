// Executes one decoded instruction for the active lanes of a warp; float arithmetic.
#include "interp_internal.h"

namespace emu {

CUresult Launch::execute(Warp& w, const Insn& in, uint32_t em) {
    const int nb = ty_bytes(in.t);
    const uint64_t msk = mask_of(nb);
    const bool sgn = ty_signed(in.t);
    const Operand* o = in.o;
    switch (in.op) {
        case OP_MOV: {
            if (o[1].kind == K_VEC) {  // pack
                int part = nb / o[1].count * 8;
                LANES(em) {
                    uint64_t v = 0;
                    for (int k = 0; k < o[1].count; k++)
                        v |= (vec_elem(o[1], k, l) & mask_of(part / 8)) << (k * part);
                    put(o[0], l, v);
                }
            } else if (o[0].kind == K_VEC) {  // unpack
                int part = nb / o[0].count * 8;
                LANES(em) {
                    uint64_t v = raw(o[1], l);
                    for (int k = 0; k < o[0].count; k++)
                        if (vec(o[0]).slot[k] >= 0) R_[vec(o[0]).slot[k] * 32 + l] = (v >> (k * part)) & mask_of(part / 8);
                }
            } else if (in.t == Ty::pred) {
                LANES(em) put(o[0], l, raw(o[1], l) != 0);
            } else {
                LANES(em) put(o[0], l, raw(o[1], l) & msk);
            }
            return OK;
        }
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_MAD: case OP_FMA: case OP_DIV: case OP_MIN:
        case OP_MAX: case OP_REM: case OP_ABS: case OP_NEG: case OP_SQRT: case OP_RSQRT: case OP_RCP:
        case OP_EX2: case OP_LG2: case OP_SIN: case OP_COS: case OP_TANH: case OP_COPYSIGN:
            if (in.t == Ty::f32) return float_op<float>(in, em);
            if (in.t == Ty::f64) return float_op<double>(in, em);
            return int_op(in, em, nb, sgn);
        case OP_TESTP:
            LANES(em) {
                double v = in.t == Ty::f32 ? as_f32(raw(o[1], l)) : as_f64(raw(o[1], l));
                int c = std::fpclassify(v);
                bool r = false;
                switch (in.sub) {
                    case X_FINITE: r = std::isfinite(v); break;
                    case X_INFINITE: r = std::isinf(v); break;
                    case X_NUMBER: r = !std::isnan(v); break;
                    case X_NOTANUMBER: r = std::isnan(v); break;
                    case X_NORMAL: r = c == FP_NORMAL; break;
                    case X_SUBNORMAL: r = in.t == Ty::f32 ? std::fpclassify(as_f32(raw(o[1], l))) == FP_SUBNORMAL : c == FP_SUBNORMAL; break;
                }
                put(o[0], l, r);
            }
            return OK;
        case OP_AND: case OP_OR: case OP_XOR:
            LANES(em) {
                uint64_t a = raw(o[1], l), b = raw(o[2], l), r;
                r = in.op == OP_AND ? a & b : in.op == OP_OR ? a | b : a ^ b;
                put(o[0], l, in.t == Ty::pred ? (r & 1) : r & msk);
            }
            return OK;
        case OP_NOT:
            LANES(em) put(o[0], l, in.t == Ty::pred ? !raw(o[1], l) : ~raw(o[1], l) & msk);
            return OK;
        case OP_CNOT:
            LANES(em) put(o[0], l, (raw(o[1], l) & msk) == 0);
            return OK;
        case OP_SHL: case OP_SHR:
            LANES(em) {
                uint64_t a = raw(o[1], l) & msk;
                uint32_t b = static_cast<uint32_t>(raw(o[2], l));
                unsigned bits = static_cast<unsigned>(nb * 8);
                uint64_t r;
                if (in.op == OP_SHL) r = b >= bits ? 0 : (a << b) & msk;
                else if (sgn) r = static_cast<uint64_t>(sext(a, nb) >> std::min(b, bits - 1)) & msk;
                else r = b >= bits ? 0 : a >> b;
                put(o[0], l, r);
            }
            return OK;
        case OP_POPC: case OP_CLZ: case OP_BREV:
            LANES(em) {
                uint64_t a = raw(o[1], l) & msk, r;
                if (in.op == OP_POPC) r = static_cast<uint64_t>(__builtin_popcountll(a));
                else if (in.op == OP_CLZ) r = a == 0 ? nb * 8 : static_cast<uint64_t>(__builtin_clzll(a) - (64 - nb * 8));
                else { r = 0; for (int k = 0; k < nb * 8; k++) if ((a >> k) & 1) r |= 1ull << (nb * 8 - 1 - k); }
                put(o[0], l, r);
            }
            return OK;
        case OP_BFE:
            LANES(em) {
                uint64_t a = raw(o[1], l) & msk;
                unsigned pos = raw(o[2], l) & 0xff, len = raw(o[3], l) & 0xff, bits = nb * 8;
                uint64_t r = 0;
                bool sbit = sgn && len > 0 && ((a >> std::min(pos + len - 1, bits - 1)) & 1);
                for (unsigned k = 0; k < bits; k++) {
                    bool v = k < len && pos + k < bits ? (a >> (pos + k)) & 1 : (sgn ? sbit : false);
                    if (k >= len && !sgn) v = false;
                    if (v) r |= 1ull << k;
                }
                put(o[0], l, r);
            }
            return OK;
        case OP_BFI:
            LANES(em) {
                uint64_t a = raw(o[1], l), b = raw(o[2], l) & msk;
                unsigned pos = raw(o[3], l) & 0xff, len = raw(o[4], l) & 0xff, bits = nb * 8;
                for (unsigned k = 0; k < len && pos + k < bits; k++)
                    b = (b & ~(1ull << (pos + k))) | (((a >> k) & 1) << (pos + k));
                put(o[0], l, b);
            }
            return OK;
        case OP_PRMT:
            LANES(em) {
                uint64_t bytes = (raw(o[1], l) & 0xffffffffu) | ((raw(o[2], l) & 0xffffffffu) << 32);
                uint32_t c = static_cast<uint32_t>(raw(o[3], l)), r = 0;
                for (int k = 0; k < 4; k++) {
                    unsigned sel = (c >> (4 * k)) & 0xf;
                    uint32_t byte = (bytes >> (8 * (sel & 7))) & 0xff;
                    if (sel & 8) byte = (byte & 0x80) ? 0xff : 0;
                    r |= byte << (8 * k);
                }
                put(o[0], l, r);
            }
            return OK;
        case OP_SETP: case OP_SET: return compare(in, em);
        case OP_SELP:
            LANES(em) put(o[0], l, (raw(o[3], l) != 0 ? raw(o[1], l) : raw(o[2], l)) & msk);
            return OK;
        case OP_CVT: return convert(in, em);
        case OP_CVTA:
            LANES(em) {
                uint64_t a = raw(o[1], l);
                if (in.space == S_SHARED) a = (in.flags & F_TO) ? a - kSharedWindow : a + kSharedWindow;
                put(o[0], l, a & msk);
            }
            return OK;
        case OP_LD: case OP_ST: return memory(in, em);
        case OP_ATOM: return atomic(in, em);
        case OP_MEMBAR: return OK;
        case OP_ACTIVEMASK:
            LANES(em) put(o[0], l, em);
            return OK;
        case OP_BAR_WARP: {
            uint32_t members = static_cast<uint32_t>(raw(o[0], __builtin_ctz(em)));
            if (CUresult r = check_members(w, in, em, members, "bar.warp.sync (__syncwarp)")) return r;
            w.wep++;
            return OK;
        }
        case OP_VOTE: {
            uint32_t members = static_cast<uint32_t>(raw(o[2], __builtin_ctz(em)));
            if (CUresult r = check_members(w, in, em, members, "vote.sync")) return r;
            uint32_t ballot = 0;
            LANES(em) if (raw(o[1], l) != 0) ballot |= 1u << l;
            uint64_t r;
            switch (in.sub) {
                case X_ALL: r = ballot == em; break;
                case X_ANY: r = ballot != 0; break;
                case X_UNI: r = ballot == 0 || ballot == em; break;
                default: r = ballot;
            }
            LANES(em) put(o[0], l, r);
            return OK;
        }
        case OP_SHFL: {
            uint32_t members = static_cast<uint32_t>(raw(o[4], __builtin_ctz(em)));
            if (CUresult r = check_members(w, in, em, members, "shfl.sync")) return r;
            uint64_t src[32];
            LANES(w.exist & ~w.exited) src[l] = raw(o[1], l) & 0xffffffffu;
            const Operand& d = o[0];
            LANES(em) {
                uint32_t b = static_cast<uint32_t>(raw(o[2], l)) & 31, c = static_cast<uint32_t>(raw(o[3], l));
                uint32_t seg = (c >> 8) & 31, clamp = c & 31;
                uint32_t lane = static_cast<uint32_t>(l), max_lane = (lane & seg) | (clamp & ~seg),
                         min_lane = lane & seg;
                int64_t j;
                bool ok;
                switch (in.sub) {
                    case X_UP: j = static_cast<int64_t>(lane) - b; ok = j >= max_lane; break;
                    case X_DOWN: j = lane + b; ok = j <= max_lane; break;
                    case X_BFLY: j = lane ^ b; ok = j <= max_lane; break;
                    default: j = min_lane | (b & ~seg); ok = j <= max_lane; break;
                }
                if (!ok) j = lane;
                // A source lane outside the executing set gives no defined value; the lane keeps its own.
                uint64_t v = (em >> j) & 1 ? src[j] : src[l];
                if (d.kind == K_VEC) {
                    if (vec(d).slot[0] >= 0) R_[vec(d).slot[0] * 32 + l] = v;
                    if (vec(d).slot[1] >= 0) R_[vec(d).slot[1] * 32 + l] = ok;
                } else {
                    put(d, l, v);
                }
            }
            return OK;
        }
        default: {
            size_t idx = static_cast<size_t>(&in - p_.code.data());
            return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "not executable: " + p_.lines[idx]);
        }
    }
}

// The common f32 forms (round to nearest, no .ftz or .sat, register or immediate operands)
// without the general path's per-lane mode checks. False when the instruction is not one of them.
bool Launch::fast_f32(const Insn& in, uint32_t em) {
    if ((in.rnd != R_NONE && in.rnd != R_RN) || (in.flags & (F_FTZ | F_SAT)) || in.o[0].kind != K_REG) return false;
    const Operand* o = in.o;
    uint64_t* d = R_ + o[0].reg * 32;
    switch (in.op) {
        case OP_ADD: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) + as_f32(ri(o[2], l))); return true;
        case OP_SUB: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) - as_f32(ri(o[2], l))); return true;
        case OP_MUL: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) * as_f32(ri(o[2], l))); return true;
        case OP_DIV: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) / as_f32(ri(o[2], l))); return true;
        case OP_FMA: case OP_MAD:
            LANES(em) d[l] = fres32(std::fma(as_f32(ri(o[1], l)), as_f32(ri(o[2], l)), as_f32(ri(o[3], l))));
            return true;
        case OP_SQRT: LANES(em) d[l] = fres32(std::sqrt(as_f32(ri(o[1], l)))); return true;
        default: return false;
    }
}

template <class F>
CUresult Launch::float_op(const Insn& in, uint32_t em) {
    if constexpr (sizeof(F) == 4) {
        if (fast_f32(in, em)) return OK;
    }
    const Operand* o = in.o;
    const bool ftz = (in.flags & F_FTZ) != 0, sat = (in.flags & F_SAT) != 0;
    Rounding rounding(in.rnd);
    const F zero = 0;
    auto fin = [&](F r) -> uint64_t {
        r = flush(r, ftz);
        if (sat) r = std::isnan(r) ? zero : (r < 0 ? zero : (r > 1 ? F(1) : r));
        return res(r);
    };
    switch (in.op) {
        case OP_ADD: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) + flush(get<F>(raw(o[2], l)), ftz))); break;
        case OP_SUB: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) - flush(get<F>(raw(o[2], l)), ftz))); break;
        case OP_MUL: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) * flush(get<F>(raw(o[2], l)), ftz))); break;
        case OP_FMA: case OP_MAD:
            LANES(em) put(o[0], l, fin(std::fma(flush(get<F>(raw(o[1], l)), ftz), flush(get<F>(raw(o[2], l)), ftz),
                                                flush(get<F>(raw(o[3], l)), ftz))));
            break;
        case OP_DIV: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) / flush(get<F>(raw(o[2], l)), ftz))); break;
        case OP_SQRT: LANES(em) put(o[0], l, fin(std::sqrt(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_RSQRT: LANES(em) put(o[0], l, fin(F(1) / std::sqrt(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_RCP: LANES(em) put(o[0], l, fin(F(1) / flush(get<F>(raw(o[1], l)), ftz))); break;
        case OP_EX2: LANES(em) put(o[0], l, fin(std::exp2(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_LG2: LANES(em) put(o[0], l, fin(std::log2(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_SIN: LANES(em) put(o[0], l, fin(std::sin(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_COS: LANES(em) put(o[0], l, fin(std::cos(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_TANH: LANES(em) put(o[0], l, fin(std::tanh(flush(get<F>(raw(o[1], l)), ftz)))); break;
        case OP_ABS: case OP_NEG: {
            // Sign-bit operations: NaN payloads pass through as the hardware does.
            const uint64_t sign = sizeof(F) == 4 ? 0x80000000ull : 0x8000000000000000ull;
            LANES(em) {
                uint64_t b = bitsof(flush(get<F>(raw(o[1], l)), ftz));
                put(o[0], l, in.op == OP_ABS ? b & ~sign : b ^ sign);
            }
            break;
        }
        case OP_COPYSIGN: {
            const uint64_t sign = sizeof(F) == 4 ? 0x80000000ull : 0x8000000000000000ull;
            LANES(em) put(o[0], l, (raw(o[2], l) & ~sign & mask_of(sizeof(F))) | (raw(o[1], l) & sign));
            break;
        }
        case OP_MIN: case OP_MAX:
            LANES(em) {
                F a = flush(get<F>(raw(o[1], l)), ftz), b = flush(get<F>(raw(o[2], l)), ftz);
                bool an = std::isnan(a), bn = std::isnan(b);
                F r;
                if (an || bn) {
                    if ((in.flags & F_NANMODE) || (an && bn)) r = get<F>(sizeof(F) == 4 ? kCanonicalNaN32 : kCanonicalNaN64);
                    else r = an ? b : a;
                } else if (a == b) {
                    // -0 is below +0 for min and max.
                    bool neg = in.op == OP_MIN ? (std::signbit(a) || std::signbit(b)) : (std::signbit(a) && std::signbit(b));
                    r = std::copysign(a, neg ? F(-1) : F(1));
                } else {
                    r = in.op == OP_MIN ? (a < b ? a : b) : (a > b ? a : b);
                }
                put(o[0], l, res(r));
            }
            break;
        default: return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "unsupported float operation");
    }
    return OK;
}

}  // namespace emu
