// Decodes PTX instructions and their operands into the form interp_*.cpp executes
// (ptx.h), refusing anything the interpreter cannot execute (Reader, ptx_reader.h).
#include <cmath>

#include "ptx_reader.h"

namespace emu {

bool Reader::operand(Operand& o, Ty t, bool address, int which) {
    if (peek() == "!") { pos_++; o.negate = true; }
    const std::string s = t_[pos_++].s;
    if (s == "_") { o.kind = K_SINK; return true; }
    if (!s.empty() && s[0] == '%') {
        auto sr = sregs().find(s);
        if (sr != sregs().end()) { o.kind = K_SREG; o.sreg = sr->second; return true; }
        int r = find_reg(s);
        if (r < 0) return fail("undeclared register '" + s + "'");
        o.kind = K_REG;
        o.reg = r;
        return true;
    }
    if (s == "WARP_SZ") { o.kind = K_IMM; o.imm = 32; return true; }
    uint64_t v;
    if (immediate(s, t, v)) { o.kind = K_IMM; o.imm = v; return true; }
    // A symbol: a variable's address (shared ones are resolved after the body).
    o.kind = K_IMM;
    auto l = locals_.find(s);
    if (l != locals_.end()) {
        if (!address) return fail("taking the address of parameter '" + s + "' is not supported");
        o.imm = l->second.address;
        return true;
    }
    auto g = globals_.find(s);
    if (g != globals_.end()) { o.imm = g->second.address; return true; }
    pending_shared_.push_back({current_index_, {which, s}});
    return true;
}

bool Reader::instruction(Insn& in, std::string& target, Program& prog) {
    in.line = line();
    current_index_ = prog.code.size();
    size_t first = pos_;
    if (peek() == "@") {
        pos_++;
        if (peek() == "!") { in.guard_negated = true; pos_++; }
        in.guard = find_reg(peek());
        if (in.guard < 0) return fail("undeclared guard predicate '" + peek() + "'");
        pos_++;
    }
    std::string opcode = t_[pos_++].s;
    if (!decode(opcode, in)) return false;
    // Operands.
    int k = 0;
    while (peek() != ";") {
        if (peek().empty()) return fail("missing ';' after " + opcode);
        if (k >= 5) return fail("too many operands for " + opcode);
        Operand& o = in.o[k];
        Ty ot = in.t;
        if (in.op == OP_CVT && k == 1) ot = in.t2;
        if ((in.op == OP_SET) && k > 0) ot = in.t2;
        if (in.op == OP_SETP && k == 3) ot = Ty::pred;
        if (in.op == OP_SELP && k == 3) ot = Ty::pred;
        if (in.op == OP_BRA) {
            target = t_[pos_++].s;
        } else if (peek() == "[") {
            pos_++;
            o.kind = K_ADDR;
            while (peek() != "]") {
                Operand part;
                if (peek() == "+") { pos_++; continue; }
                if (!operand(part, Ty::u64, true, k)) return false;
                if (part.kind == K_REG) o.reg = part.reg;
                else if (part.kind == K_IMM) o.imm += part.imm;
                else return fail("unsupported address in " + opcode);
            }
            pos_++;
        } else if (peek() == "{") {
            pos_++;
            o.kind = K_VEC;
            VecOperand v;
            while (peek() != "}") {
                Operand part;
                if (!operand(part, ot, false, k)) return false;
                if (o.count >= 4) return fail("vector too long in " + opcode);
                if (part.kind == K_REG) v.slot[o.count++] = part.reg;
                else if (part.kind == K_SINK) v.slot[o.count++] = -1;
                else if (part.kind == K_IMM) { v.imm[o.count] = static_cast<uint32_t>(part.imm); v.slot[o.count++] = kVecImm; }
                else return fail("vector elements must be registers or immediates in " + opcode);
                if (peek() == ",") pos_++;
            }
            pos_++;
            o.imm = prog.vectors.size();
            prog.vectors.push_back(v);
        } else {
            if (!operand(o, ot, false, k)) return false;
            if (peek() == "|") {  // setp p|q, shfl d|p
                pos_++;
                Operand q;
                if (!operand(q, Ty::pred, false, k)) return false;
                Operand pair;
                pair.kind = K_VEC;
                pair.count = 2;
                VecOperand v;
                v.slot[0] = o.kind == K_REG ? o.reg : -1;
                v.slot[1] = q.kind == K_REG ? q.reg : -1;
                pair.imm = prog.vectors.size();
                prog.vectors.push_back(v);
                o = pair;
                in.flags |= F_PAIR;
            }
        }
        k++;
        if (peek() == ",") pos_++;
    }
    pos_++;
    in.nops = static_cast<uint8_t>(k);
    std::string text;
    for (size_t j = first; j < pos_; j++) {
        if (!text.empty() && t_[j].s != "," && t_[j].s != ";" && t_[j].s != "]" && text.back() != '[' &&
            text.back() != '@' && text.back() != '!' && text.back() != '{')
            text += ' ';
        text += t_[j].s;
    }
    prog.lines.push_back(text);
    return check_operands(in, opcode);
}

bool Reader::check_operands(const Insn& in, const std::string& opcode) {
    static const int need[OP_COUNT] = {
        /*MOV*/ 2, /*ADD*/ 3, /*SUB*/ 3, /*MUL*/ 3, /*MAD*/ 4, /*FMA*/ 4, /*DIV*/ 3, /*REM*/ 3, /*ABS*/ 2,
        /*NEG*/ 2, /*MIN*/ 3, /*MAX*/ 3, /*SQRT*/ 2, /*RSQRT*/ 2, /*RCP*/ 2, /*EX2*/ 2, /*LG2*/ 2, /*SIN*/ 2,
        /*COS*/ 2, /*TANH*/ 2, /*COPYSIGN*/ 3, /*TESTP*/ 2, /*AND*/ 3, /*OR*/ 3, /*XOR*/ 3, /*NOT*/ 2,
        /*CNOT*/ 2, /*SHL*/ 3, /*SHR*/ 3, /*POPC*/ 2, /*CLZ*/ 2, /*BREV*/ 2, /*BFE*/ 4, /*BFI*/ 5,
        /*PRMT*/ 4, /*SETP*/ -1, /*SET*/ -1, /*SELP*/ 4, /*CVT*/ 2, /*CVTA*/ 2, /*LD*/ 2, /*ST*/ 2,
        /*BRA*/ 1, /*RET*/ 0, /*BAR*/ -1, /*BAR_RED*/ -1, /*BAR_WARP*/ 1, /*SHFL*/ 5, /*VOTE*/ 3,
        /*ACTIVEMASK*/ 1, /*ATOM*/ -1, /*MEMBAR*/ 0};
    int n = need[in.op];
    bool ok = n < 0 || in.nops == n;
    if (in.op == OP_SETP || in.op == OP_SET) ok = in.nops == 3 || in.nops == 4;
    if (in.op == OP_BAR) ok = in.nops == 1 || in.nops == 2;
    if (in.op == OP_BAR_RED) ok = in.nops == 3 || in.nops == 4;
    if (in.op == OP_ATOM) ok = in.nops >= 2 && in.nops <= 4;
    if (!ok) return fail("wrong number of operands (" + std::to_string(in.nops) + ") for " + opcode);
    int addr = in.op == OP_ST || (in.op == OP_ATOM && (in.flags & F_NODEST)) ? 0 : 1;
    if ((in.op == OP_LD || in.op == OP_ST || in.op == OP_ATOM) && in.o[addr].kind != K_ADDR)
        return fail(opcode + " needs an address operand");
    return true;
}

bool Reader::decode(const std::string& opcode, Insn& in) {
    std::vector<std::string> m;
    size_t a = 0;
    while (a <= opcode.size()) {
        size_t b = opcode.find('.', a);
        if (b == std::string::npos) b = opcode.size();
        m.push_back(opcode.substr(a, b - a));
        a = b + 1;
    }
    const std::string base = m[0];
    static const std::unordered_map<std::string, uint8_t> ops = {
        {"mov", OP_MOV}, {"add", OP_ADD}, {"sub", OP_SUB}, {"mul", OP_MUL}, {"mad", OP_MAD}, {"fma", OP_FMA},
        {"div", OP_DIV}, {"rem", OP_REM}, {"abs", OP_ABS}, {"neg", OP_NEG}, {"min", OP_MIN}, {"max", OP_MAX},
        {"sqrt", OP_SQRT}, {"rsqrt", OP_RSQRT}, {"rcp", OP_RCP}, {"ex2", OP_EX2}, {"lg2", OP_LG2},
        {"sin", OP_SIN}, {"cos", OP_COS}, {"tanh", OP_TANH}, {"copysign", OP_COPYSIGN}, {"testp", OP_TESTP},
        {"and", OP_AND}, {"or", OP_OR}, {"xor", OP_XOR}, {"not", OP_NOT}, {"cnot", OP_CNOT}, {"shl", OP_SHL},
        {"shr", OP_SHR}, {"popc", OP_POPC}, {"clz", OP_CLZ}, {"brev", OP_BREV}, {"bfe", OP_BFE},
        {"bfi", OP_BFI}, {"prmt", OP_PRMT}, {"setp", OP_SETP}, {"set", OP_SET}, {"selp", OP_SELP},
        {"cvt", OP_CVT}, {"cvta", OP_CVTA}, {"ld", OP_LD}, {"st", OP_ST}, {"bra", OP_BRA}, {"ret", OP_RET},
        {"exit", OP_RET}, {"bar", OP_BAR}, {"barrier", OP_BAR}, {"shfl", OP_SHFL}, {"vote", OP_VOTE},
        {"activemask", OP_ACTIVEMASK}, {"atom", OP_ATOM}, {"red", OP_ATOM}, {"membar", OP_MEMBAR},
        {"fence", OP_MEMBAR}, {"ldu", OP_LD}};
    auto it = ops.find(base);
    auto unsupported = [&](const std::string& why) {
        return fail("unsupported PTX instruction '" + opcode + "'" + (why.empty() ? "" : " (" + why + ")"));
    };
    if (it == ops.end()) return unsupported("");
    in.op = it->second;
    bool is_red = base == "red";
    bool is_cmp_op = in.op == OP_SETP || in.op == OP_SET;
    bool cmp_seen = false;
    static const std::unordered_map<std::string, uint8_t> cmps = {
        {"eq", C_EQ}, {"ne", C_NE}, {"lt", C_LT}, {"le", C_LE}, {"gt", C_GT}, {"ge", C_GE}, {"lo", C_LO},
        {"ls", C_LS}, {"hi", C_HI}, {"hs", C_HS}, {"equ", C_EQU}, {"neu", C_NEU}, {"ltu", C_LTU},
        {"leu", C_LEU}, {"gtu", C_GTU}, {"geu", C_GEU}, {"num", C_NUM}, {"nan", C_NAN}};
    static const std::unordered_map<std::string, uint8_t> subs = {
        {"up", X_UP}, {"down", X_DOWN}, {"bfly", X_BFLY}, {"idx", X_IDX}, {"all", X_ALL}, {"any", X_ANY},
        {"uni", X_UNI}, {"ballot", X_BALLOT}, {"popc", X_POPC}, {"add", X_ADD}, {"min", X_MIN},
        {"max", X_MAX}, {"inc", X_INC}, {"dec", X_DEC}, {"and", X_AND}, {"or", X_OR}, {"xor", X_XOR},
        {"exch", X_EXCH}, {"cas", X_CAS}, {"finite", X_FINITE}, {"infinite", X_INFINITE},
        {"number", X_NUMBER}, {"notanumber", X_NOTANUMBER}, {"normal", X_NORMAL}, {"subnormal", X_SUBNORMAL}};
    static const std::unordered_map<std::string, uint8_t> rnds = {
        {"rn", R_RN}, {"rz", R_RZ}, {"rm", R_RM}, {"rp", R_RP}, {"rni", R_RNI}, {"rzi", R_RZI},
        {"rmi", R_RMI}, {"rpi", R_RPI}};
    static const char* const ignored[] = {
        "nc", "volatile", "relaxed", "acquire", "release", "acq_rel", "sc", "weak", "cta", "gpu", "sys",
        "cluster", "ca", "cg", "cs", "lu", "cv", "wb", "wt", "aligned", "sync", "gl", "noftz"};
    for (size_t k = 1; k < m.size(); k++) {
        const std::string& s = m[k];
        Ty ty = type_of(s);
        if (ty != Ty::none) {
            if (in.t == Ty::none) in.t = ty;
            else if (in.t2 == Ty::none) in.t2 = ty;
            else return unsupported("three types");
            continue;
        }
        if (s.rfind("L1::", 0) == 0 || s.rfind("L2::", 0) == 0) continue;
        bool ign = false;
        for (const char* g : ignored) ign = ign || s == g;
        if (ign) continue;
        if (auto r = rnds.find(s); r != rnds.end()) { in.rnd = r->second; continue; }
        if (is_cmp_op && !cmp_seen) {
            if (auto c = cmps.find(s); c != cmps.end()) { in.cmp = c->second; cmp_seen = true; continue; }
        }
        if (is_cmp_op && cmp_seen && (s == "and" || s == "or" || s == "xor")) {
            in.boolop = subs.at(s);
            continue;
        }
        if (s == "ftz") { in.flags |= F_FTZ; continue; }
        if (s == "sat") { in.flags |= F_SAT; continue; }
        if (s == "approx" || s == "full") { in.flags |= F_APPROX; continue; }
        if (s == "hi") { in.flags |= F_HI; continue; }
        if (s == "lo") { in.flags |= F_LO; continue; }
        if (s == "wide") { in.flags |= F_WIDE; continue; }
        if (s == "uni") { in.flags |= F_UNI; if (in.op == OP_BRA) continue; }
        if (s == "NaN" && (in.op == OP_MIN || in.op == OP_MAX)) { in.flags |= F_NANMODE; continue; }
        if (s == "to" && in.op == OP_CVTA) { in.flags |= F_TO; continue; }
        if (s == "global") { in.space = S_GLOBAL; continue; }
        if (s == "shared" || s == "shared::cta") { in.space = S_SHARED; continue; }
        if (s == "param") { in.space = S_PARAM; continue; }
        if (s == "const") { in.space = S_CONST; continue; }
        if (s == "local") return unsupported("local memory");
        if (s == "v2" || s == "v4") { in.vec = s == "v2" ? 2 : 4; continue; }
        if (in.op == OP_BAR && (s == "red")) { in.op = OP_BAR_RED; continue; }
        if (in.op == OP_BAR && s == "warp") { in.op = OP_BAR_WARP; continue; }
        if (in.op == OP_BAR && (s == "arrive")) return unsupported("bar.arrive");
        if ((in.op == OP_SHFL || in.op == OP_VOTE || in.op == OP_ATOM || in.op == OP_BAR_RED ||
             in.op == OP_TESTP) && in.sub == X_NONE) {
            if (auto x = subs.find(s); x != subs.end()) { in.sub = x->second; continue; }
        }
        return unsupported("modifier ." + s);
    }
    if (in.op == OP_BAR && base == "bar" && m.size() > 1 && m[1] != "sync" && m[1] != "red" && m[1] != "warp")
        return unsupported("");
    // Shape checks: forms that parse but that the interpreter does not execute.
    int tb = ty_bytes(in.t);
    switch (in.op) {
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_MAD: case OP_MIN: case OP_MAX: case OP_ABS: case OP_NEG:
            if (in.t == Ty::f16 || in.t == Ty::bf16 || in.t == Ty::f16x2 || in.t == Ty::bf16x2)
                return unsupported("16-bit floating-point arithmetic");
            if (in.t == Ty::none) return unsupported("no type");
            break;
        case OP_FMA: case OP_DIV: case OP_SQRT: case OP_RCP: case OP_RSQRT: case OP_EX2: case OP_LG2:
        case OP_SIN: case OP_COS: case OP_TANH: case OP_COPYSIGN: case OP_TESTP:
            if (in.op == OP_DIV && !ty_float(in.t) && tb != 0) break;
            if (in.t != Ty::f32 && in.t != Ty::f64) return unsupported("only f32 and f64");
            if (in.op == OP_TESTP && in.sub < X_FINITE) return unsupported("testp class");
            break;
        case OP_CVT:
            if (in.t == Ty::none || in.t2 == Ty::none || in.t == Ty::f16x2 || in.t2 == Ty::f16x2 ||
                in.t == Ty::bf16x2 || in.t2 == Ty::bf16x2 || in.t == Ty::pred)
                return unsupported("conversion");
            break;
        case OP_ATOM:
            if (in.sub < X_ADD) return unsupported("atomic operation");
            if (is_red) in.flags |= F_NODEST;
            break;
        case OP_SHFL:
            if (in.sub < X_UP || in.sub > X_IDX || tb != 4) return unsupported("");
            break;
        case OP_VOTE:
            if (in.sub < X_ALL || in.sub > X_BALLOT) return unsupported("");
            break;
        case OP_BAR_RED:
            if (in.sub != X_POPC && in.sub != X_AND && in.sub != X_OR) return unsupported("");
            break;
        case OP_LD: case OP_ST:
            if (tb == 0) return unsupported("no type");
            break;
        default: break;
    }
    return true;
}

}  // namespace emu
