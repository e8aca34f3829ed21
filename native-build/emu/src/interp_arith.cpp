// Integer arithmetic, comparisons and conversions of the interpreter (IEEE rules and
// their sources: native-build/emu/README.md).
#include "interp_internal.h"

namespace emu {

CUresult Launch::int_op(const Insn& in, uint32_t em, int nb, bool sgn) {
    const Operand* o = in.o;
    const uint64_t msk = mask_of(nb);
    const bool wide = (in.flags & F_WIDE) != 0, hi = (in.flags & F_HI) != 0;
    const int out_bytes = wide ? nb * 2 : nb;
    auto val = [&](const Operand& op, int l) -> int64_t {
        uint64_t v = raw(op, l) & msk;
        return sgn ? sext(v, nb) : static_cast<int64_t>(v);
    };
    auto product = [&](int64_t a, int64_t b) -> uint64_t {
        if (sgn) {
            __int128 p = static_cast<__int128>(a) * b;
            if (wide) return static_cast<uint64_t>(p) & mask_of(out_bytes);
            if (hi) return static_cast<uint64_t>(p >> (nb * 8)) & msk;
            return static_cast<uint64_t>(p) & msk;
        }
        unsigned __int128 p = static_cast<unsigned __int128>(static_cast<uint64_t>(a)) * static_cast<uint64_t>(b);
        if (wide) return static_cast<uint64_t>(p) & mask_of(out_bytes);
        if (hi) return static_cast<uint64_t>(p >> (nb * 8)) & msk;
        return static_cast<uint64_t>(p) & msk;
    };
    const bool sat = (in.flags & F_SAT) != 0;
    auto saturate = [&](__int128 v) -> uint64_t {
        if (sat && sgn) {
            __int128 lo = -(static_cast<__int128>(1) << (nb * 8 - 1)), hi2 = (static_cast<__int128>(1) << (nb * 8 - 1)) - 1;
            v = v < lo ? lo : (v > hi2 ? hi2 : v);
        }
        return static_cast<uint64_t>(v) & msk;
    };
    if (!sat && o[0].kind == K_REG && (in.op == OP_ADD || in.op == OP_SUB)) {
        uint64_t* d = R_ + o[0].reg * 32;
        if (in.op == OP_ADD) { LANES(em) d[l] = (raw(o[1], l) + raw(o[2], l)) & msk; }
        else { LANES(em) d[l] = (raw(o[1], l) - raw(o[2], l)) & msk; }
        return OK;
    }
    switch (in.op) {
        case OP_ADD: LANES(em) put(o[0], l, saturate(static_cast<__int128>(val(o[1], l)) + val(o[2], l))); break;
        case OP_SUB: LANES(em) put(o[0], l, saturate(static_cast<__int128>(val(o[1], l)) - val(o[2], l))); break;
        case OP_MUL: LANES(em) put(o[0], l, product(val(o[1], l), val(o[2], l))); break;
        case OP_MAD:
            LANES(em) {
                uint64_t p = product(val(o[1], l), val(o[2], l));
                put(o[0], l, (p + raw(o[3], l)) & mask_of(out_bytes));
            }
            break;
        case OP_DIV: case OP_REM:
            LANES(em) {
                int64_t a = val(o[1], l), b = val(o[2], l);
                uint64_t r;
                // Division by zero has no defined result in PTX; never trap on the host.
                if (b == 0) r = in.op == OP_DIV ? msk : static_cast<uint64_t>(a) & msk;
                else if (sgn && b == -1) r = in.op == OP_DIV ? static_cast<uint64_t>(-static_cast<uint64_t>(a)) & msk : 0;
                else if (sgn) r = static_cast<uint64_t>(in.op == OP_DIV ? a / b : a % b) & msk;
                else r = (in.op == OP_DIV ? static_cast<uint64_t>(a) / static_cast<uint64_t>(b)
                                          : static_cast<uint64_t>(a) % static_cast<uint64_t>(b)) & msk;
                put(o[0], l, r);
            }
            break;
        case OP_MIN: LANES(em) put(o[0], l, static_cast<uint64_t>(std::min(val(o[1], l), val(o[2], l), [&](int64_t x, int64_t y) { return sgn ? x < y : static_cast<uint64_t>(x) < static_cast<uint64_t>(y); })) & msk); break;
        case OP_MAX: LANES(em) put(o[0], l, static_cast<uint64_t>(std::max(val(o[1], l), val(o[2], l), [&](int64_t x, int64_t y) { return sgn ? x < y : static_cast<uint64_t>(x) < static_cast<uint64_t>(y); })) & msk); break;
        case OP_ABS: LANES(em) { int64_t a = val(o[1], l); put(o[0], l, static_cast<uint64_t>(a < 0 ? -static_cast<uint64_t>(a) : a) & msk); } break;
        case OP_NEG: LANES(em) put(o[0], l, (-static_cast<uint64_t>(val(o[1], l))) & msk); break;
        default: return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "unsupported integer operation");
    }
    return OK;
}

CUresult Launch::compare(const Insn& in, uint32_t em) {
    const Operand* o = in.o;
    Ty t = in.op == OP_SET ? in.t2 : in.t;
    int nb = ty_bytes(t);
    uint64_t msk = mask_of(nb);
    bool sgn = ty_signed(t), flt = t == Ty::f32 || t == Ty::f64;
    LANES(em) {
        uint64_t ra = raw(o[1], l), rb = raw(o[2], l);
        bool r;
        if (flt) {
            double a = t == Ty::f32 ? as_f32(ra) : as_f64(ra), b = t == Ty::f32 ? as_f32(rb) : as_f64(rb);
            if (in.flags & F_FTZ) { a = ftz32(static_cast<float>(a)); b = ftz32(static_cast<float>(b)); }
            bool un = std::isnan(a) || std::isnan(b);
            switch (in.cmp) {
                case C_EQ: r = !un && a == b; break;
                case C_NE: r = !un && a != b; break;
                case C_LT: r = !un && a < b; break;
                case C_LE: r = !un && a <= b; break;
                case C_GT: r = !un && a > b; break;
                case C_GE: r = !un && a >= b; break;
                case C_EQU: r = un || a == b; break;
                case C_NEU: r = un || a != b; break;
                case C_LTU: r = un || a < b; break;
                case C_LEU: r = un || a <= b; break;
                case C_GTU: r = un || a > b; break;
                case C_GEU: r = un || a >= b; break;
                case C_NUM: r = !un; break;
                case C_NAN: r = un; break;
                default: return report(E_ILLEGAL_INSTRUCTION, in, l, "comparison not valid for floats");
            }
        } else {
            uint64_t ua = ra & msk, ub = rb & msk;
            int64_t sa = sext(ua, nb), sb = sext(ub, nb);
            switch (in.cmp) {
                case C_EQ: r = ua == ub; break;
                case C_NE: r = ua != ub; break;
                case C_LT: r = sgn ? sa < sb : ua < ub; break;
                case C_LE: r = sgn ? sa <= sb : ua <= ub; break;
                case C_GT: r = sgn ? sa > sb : ua > ub; break;
                case C_GE: r = sgn ? sa >= sb : ua >= ub; break;
                case C_LO: r = ua < ub; break;
                case C_LS: r = ua <= ub; break;
                case C_HI: r = ua > ub; break;
                case C_HS: r = ua >= ub; break;
                default: return report(E_ILLEGAL_INSTRUCTION, in, l, "comparison not valid for integers");
            }
        }
        bool c = in.nops == 4 ? raw(o[3], l) != 0 : false;
        auto comb = [&](bool x) {
            switch (in.boolop) {
                case X_AND: return x && c;
                case X_OR: return x || c;
                case X_XOR: return x != c;
                default: return x;
            }
        };
        if (in.op == OP_SET) {
            bool v = comb(r);
            put(o[0], l, in.t == Ty::f32 ? (v ? bits32(1.0f) : 0) : (v ? mask_of(ty_bytes(in.t)) : 0));
        } else if (o[0].kind == K_VEC) {
            if (vec(o[0]).slot[0] >= 0) R_[vec(o[0]).slot[0] * 32 + l] = comb(r);
            if (vec(o[0]).slot[1] >= 0) R_[vec(o[0]).slot[1] * 32 + l] = comb(!r);
        } else {
            put(o[0], l, comb(r));
        }
    }
    return OK;
}

CUresult Launch::convert(const Insn& in, uint32_t em) {
    const Operand* o = in.o;
    Ty dt = in.t, st = in.t2;
    int db = ty_bytes(dt), sb = ty_bytes(st);
    bool ftz = (in.flags & F_FTZ) != 0, sat = (in.flags & F_SAT) != 0;
    bool sflt = ty_float(st), dflt = ty_float(dt);
    Rounding rounding(dflt ? in.rnd : static_cast<uint8_t>(R_NONE));
    LANES(em) {
        uint64_t s = raw(o[1], l) & mask_of(sb);
        uint64_t out;
        if (sflt) {
            double v = st == Ty::f32 ? (ftz ? ftz32(as_f32(s)) : as_f32(s)) : st == Ty::f64 ? as_f64(s)
                     : st == Ty::f16 ? from_f16(static_cast<uint32_t>(s)) : from_bf16(static_cast<uint32_t>(s));
            if (dflt) {
                if (in.rnd >= R_RNI) {  // round to an integral value in the same format
                    int saved = std::fegetround();
                    std::fesetround(fe_mode(in.rnd));
                    v = std::nearbyint(v);
                    std::fesetround(saved);
                }
                if (dt == Ty::f32) {
                    float f = static_cast<float>(v);  // rounds in the mode set above
                    if (ftz) f = ftz32(f);
                    if (sat) f = std::isnan(f) ? 0.0f : (f < 0 ? 0.0f : (f > 1 ? 1.0f : f));
                    out = fres32(f);
                } else if (dt == Ty::f64) {
                    if (sat) v = std::isnan(v) ? 0.0 : (v < 0 ? 0.0 : (v > 1 ? 1.0 : v));
                    out = fres64(v);
                } else {
                    uint8_t r = in.rnd == R_NONE ? static_cast<uint8_t>(R_RN) : in.rnd;
                    out = dt == Ty::f16 ? to_small_float(v, 5, 10, r, sat) : to_small_float(v, 8, 7, r, sat);
                }
            } else {
                // Float to integer: round as asked, NaN to 0, saturate to the destination's range.
                double r;
                switch (in.rnd) {
                    case R_RNI: r = std::nearbyint(v); break;
                    case R_RMI: r = std::floor(v); break;
                    case R_RPI: r = std::ceil(v); break;
                    default: r = std::trunc(v); break;
                }
                if (std::isnan(r)) out = 0;
                else if (ty_signed(dt)) {
                    double lo = -std::ldexp(1.0, db * 8 - 1), hi = std::ldexp(1.0, db * 8 - 1);
                    int64_t iv = r <= lo ? static_cast<int64_t>(lo) : (r >= hi ? static_cast<int64_t>(hi - (db == 8 ? 1024 : 1)) : static_cast<int64_t>(r));
                    if (db == 8 && r >= hi) iv = INT64_MAX;
                    out = static_cast<uint64_t>(iv) & mask_of(db);
                } else {
                    double hi = std::ldexp(1.0, db * 8);
                    out = r <= 0 ? 0 : (r >= hi ? mask_of(db) : static_cast<uint64_t>(r));
                }
            }
        } else {
            bool ss = ty_signed(st);
            int64_t iv = ss ? sext(s, sb) : static_cast<int64_t>(s);
            if (dflt) {
                if (dt == Ty::f32) out = bits32(ss ? static_cast<float>(iv) : static_cast<float>(static_cast<uint64_t>(iv)));
                else if (dt == Ty::f64) out = bits64(ss ? static_cast<double>(iv) : static_cast<double>(static_cast<uint64_t>(iv)));
                else {
                    double v = ss ? static_cast<double>(iv) : static_cast<double>(static_cast<uint64_t>(iv));
                    uint8_t r = in.rnd == R_NONE ? static_cast<uint8_t>(R_RN) : in.rnd;
                    out = dt == Ty::f16 ? to_small_float(v, 5, 10, r, false) : to_small_float(v, 8, 7, r, false);
                }
            } else {
                out = static_cast<uint64_t>(iv);
                if (sat) {
                    bool ds = ty_signed(dt);
                    __int128 v = ss ? static_cast<__int128>(iv) : static_cast<__int128>(static_cast<uint64_t>(iv));
                    __int128 lo = ds ? -(static_cast<__int128>(1) << (db * 8 - 1)) : 0;
                    __int128 hi = ds ? (static_cast<__int128>(1) << (db * 8 - 1)) - 1 : (static_cast<__int128>(1) << (db * 8)) - 1;
                    v = v < lo ? lo : (v > hi ? hi : v);
                    out = static_cast<uint64_t>(v);
                }
                out &= mask_of(db);
                if (ty_signed(dt)) out = static_cast<uint64_t>(sext(out, db));
            }
        }
        put(o[0], l, out);
    }
    return OK;
}

}  // namespace emu
