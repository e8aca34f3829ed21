// Reads PTX text and decodes every instruction of every .entry into the form interp.cpp executes
// (ptx.h). Anything the interpreter cannot execute is refused here, naming the instruction and its
// line, so a module either loads completely or not at all. First tokens, types, immediates and
// special registers; then Reader: directives, entries and their bodies, instructions and operands.
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ptx.h"

namespace emu {

namespace {

struct Tok {
    std::string s;
    int line;
};

bool punct(char c) { return std::strchr("(){}[],;=<>+!@|", c) != nullptr; }

// Splits PTX into tokens, dropping comments and the directives that carry no
// meaning for execution and no terminating semicolon (.version, .target,
// .address_size, .file, .loc).
bool lex(const char* text, size_t len, std::vector<Tok>& out, std::string& error) {
    size_t i = 0;
    int line = 1;
    bool line_start = true;
    while (i < len) {
        char c = text[i];
        if (c == '\n') { line++; i++; line_start = true; continue; }
        if (std::isspace(static_cast<unsigned char>(c))) { i++; continue; }
        if (c == '/' && i + 1 < len && text[i + 1] == '/') { while (i < len && text[i] != '\n') i++; continue; }
        if (line_start && c == '.') {
            static const char* const drop[] = {".version", ".target", ".address_size", ".file", ".loc"};
            bool dropped = false;
            for (const char* d : drop) {
                size_t n = std::strlen(d);
                if (i + n <= len && std::strncmp(text + i, d, n) == 0 &&
                    (i + n == len || std::isspace(static_cast<unsigned char>(text[i + n])))) {
                    while (i < len && text[i] != '\n') i++;
                    dropped = true;
                    break;
                }
            }
            if (dropped) continue;
        }
        line_start = false;
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && text[j] != '"' && text[j] != '\n') j++;
            out.push_back({std::string(text + i, j - i + 1), line});
            i = j + 1;
            continue;
        }
        if (c == ':') { out.push_back({":", line}); i++; continue; }
        if (punct(c)) { out.push_back({std::string(1, c), line}); i++; continue; }
        size_t j = i;
        while (j < len) {
            char d = text[j];
            if (std::isspace(static_cast<unsigned char>(d)) || punct(d) || d == '"') break;
            if (d == ':') {
                if (j + 1 < len && text[j + 1] == ':') { j += 2; continue; }  // ld.global.L1::no_allocate
                break;
            }
            j++;
        }
        if (j == i) {
            error = "unexpected character '" + std::string(1, c) + "' at line " + std::to_string(line);
            return false;
        }
        out.push_back({std::string(text + i, j - i), line});
        i = j;
    }
    return true;
}

Ty type_of(const std::string& m) {
    static const std::unordered_map<std::string, Ty> types = {
        {"b8", Ty::b8}, {"b16", Ty::b16}, {"b32", Ty::b32}, {"b64", Ty::b64}, {"u8", Ty::u8}, {"u16", Ty::u16},
        {"u32", Ty::u32}, {"u64", Ty::u64}, {"s8", Ty::s8}, {"s16", Ty::s16}, {"s32", Ty::s32}, {"s64", Ty::s64},
        {"f16", Ty::f16}, {"bf16", Ty::bf16}, {"f32", Ty::f32}, {"f64", Ty::f64}, {"pred", Ty::pred},
        {"f16x2", Ty::f16x2}, {"bf16x2", Ty::bf16x2}};
    auto it = types.find(m);
    return it == types.end() ? Ty::none : it->second;
}

// Parses an immediate as a value of type t (integer bits, or the IEEE bits of a float type).
bool immediate(const std::string& s, Ty t, uint64_t& bits) {
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F') && s.size() == 10) {
        uint32_t u = static_cast<uint32_t>(std::strtoul(s.c_str() + 2, nullptr, 16));
        if (t == Ty::f64) {
            float f;
            std::memcpy(&f, &u, 4);
            double d = f;
            std::memcpy(&bits, &d, 8);
        } else {
            bits = u;
        }
        return true;
    }
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'd' || s[1] == 'D') && s.size() == 18) {
        uint64_t u = std::strtoull(s.c_str() + 2, nullptr, 16);
        if (t == Ty::f32) {
            double d;
            std::memcpy(&d, &u, 8);
            float f = static_cast<float>(d);
            uint32_t w;
            std::memcpy(&w, &f, 4);
            bits = w;
        } else {
            bits = u;
        }
        return true;
    }
    const char* c = s.c_str();
    bool neg = *c == '-';
    const char* digits = neg ? c + 1 : c;
    if (!std::isdigit(static_cast<unsigned char>(*digits))) return false;
    bool is_float = s.find_first_of(".eE") != std::string::npos && !(digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'));
    if (is_float || ty_float(t)) {
        char* end;
        double d = std::strtod(c, &end);
        if (*end != '\0') return false;
        if (t == Ty::f64) {
            std::memcpy(&bits, &d, 8);
        } else if (t == Ty::f32) {
            float f = static_cast<float>(d);
            uint32_t w;
            std::memcpy(&w, &f, 4);
            bits = w;
        } else {
            bits = static_cast<uint64_t>(static_cast<int64_t>(d));
        }
        return true;
    }
    char* end;
    uint64_t v;
    if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) v = std::strtoull(digits + 2, &end, 16);
    else if (digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) v = std::strtoull(digits + 2, &end, 2);
    else if (digits[0] == '0' && digits[1] != '\0' && std::isdigit(static_cast<unsigned char>(digits[1])))
        v = std::strtoull(digits + 1, &end, 8);
    else v = std::strtoull(digits, &end, 10);
    if (*end == 'U') end++;
    if (*end != '\0') return false;
    bits = neg ? static_cast<uint64_t>(-static_cast<int64_t>(v)) : v;
    return true;
}

const std::unordered_map<std::string, uint8_t>& sregs() {
    static const std::unordered_map<std::string, uint8_t> m = {
        {"%tid.x", SR_TID_X}, {"%tid.y", SR_TID_Y}, {"%tid.z", SR_TID_Z}, {"%ntid.x", SR_NTID_X},
        {"%ntid.y", SR_NTID_Y}, {"%ntid.z", SR_NTID_Z}, {"%ctaid.x", SR_CTAID_X}, {"%ctaid.y", SR_CTAID_Y},
        {"%ctaid.z", SR_CTAID_Z}, {"%nctaid.x", SR_NCTAID_X}, {"%nctaid.y", SR_NCTAID_Y},
        {"%nctaid.z", SR_NCTAID_Z}};
    return m;
}

struct Symbol {
    Space space;
    uint64_t address;  // shared: offset in the block's window; global/const: host address; param: offset
};

class Reader {
public:
    Reader(std::vector<Tok>& toks, PtxModule& out, std::string& error) : t_(toks), out_(out), error_(error) {}

    bool module() {
        while (pos_ < t_.size()) {
            bool is_extern = false;
            while (peek() == ".visible" || peek() == ".weak" || peek() == ".extern") {
                if (peek() == ".extern") is_extern = true;
                pos_++;
            }
            const std::string& d = peek();
            if (d == ".entry") {
                pos_++;
                if (!entry()) return false;
            } else if (d == ".global" || d == ".const" || d == ".shared") {
                if (!variable(is_extern, module_shared_)) return false;
            } else {
                return fail("unsupported PTX directive '" + d + "'");
            }
        }
        return true;
    }

private:
    std::vector<Tok>& t_;
    PtxModule& out_;
    std::string& error_;
    size_t pos_ = 0;
    std::unordered_map<std::string, Symbol> globals_;
    struct SharedVar { std::string name; size_t bytes, align; bool dynamic; };
    std::vector<SharedVar> module_shared_;
    // Per entry:
    std::vector<std::unordered_map<std::string, int>> scopes_;
    std::vector<std::unordered_map<std::string, std::pair<int, int>>> arrays_;  // "%r" -> (first slot, count)
    std::unordered_map<std::string, Symbol> locals_;
    int next_slot_ = 0;

    const std::string& peek(size_t k = 0) const {
        static const std::string eof;
        return pos_ + k < t_.size() ? t_[pos_ + k].s : eof;
    }
    int line() const { return pos_ < t_.size() ? t_[pos_].line : (t_.empty() ? 0 : t_.back().line); }
    bool fail(const std::string& msg) {
        error_ = msg + " at line " + std::to_string(line());
        return false;
    }
    bool expect(const char* s) {
        if (peek() != s) return fail(std::string("expected '") + s + "' but found '" + peek() + "'");
        pos_++;
        return true;
    }
    bool number(uint64_t& v) {
        if (!immediate(peek(), Ty::u64, v)) return fail("expected a number but found '" + peek() + "'");
        pos_++;
        return true;
    }

    // .global/.const/.shared [.align N] [.vN] .type name [ '[' N? ']' ]* [= init] ;
    bool variable(bool is_extern, std::vector<SharedVar>& shared_list) {
        std::string space = t_[pos_++].s;
        size_t align = 0, vec = 1;
        while (peek() == ".align" || peek() == ".v2" || peek() == ".v4") {
            if (peek() == ".align") { pos_++; uint64_t a; if (!number(a)) return false; align = a; }
            else { vec = peek() == ".v2" ? 2 : 4; pos_++; }
        }
        if (peek().empty() || peek()[0] != '.') return fail("expected a type in a variable declaration");
        Ty ty = type_of(peek().substr(1));
        if (ty == Ty::none || ty == Ty::pred) return fail("unsupported variable type '" + peek() + "'");
        pos_++;
        std::string name = t_[pos_++].s;
        size_t elem = static_cast<size_t>(ty_bytes(ty)) * vec, count = 1;
        bool unsized = false;
        while (peek() == "[") {
            pos_++;
            if (peek() == "]") { unsized = true; pos_++; continue; }
            uint64_t n;
            if (!number(n) || !expect("]")) return false;
            count *= n;
        }
        if (align == 0) align = elem;
        std::vector<uint64_t> init;
        if (peek() == "=") {
            pos_++;
            bool braces = peek() == "{";
            if (braces) pos_++;
            while (peek() != "}" && peek() != ";") {
                uint64_t v;
                if (!immediate(peek(), ty, v)) return fail("unsupported initializer '" + peek() + "' of " + name);
                init.push_back(v);
                pos_++;
                if (peek() == ",") pos_++;
            }
            if (braces && !expect("}")) return false;
        }
        if (!expect(";")) return false;
        if (space == ".shared") {
            shared_list.push_back({name, unsized ? 0 : elem * count, align, unsized || is_extern});
            return true;
        }
        if (unsized) return fail("global " + name + " has no size");
        size_t bytes = elem * count;
        size_t rounded = ((bytes ? bytes : 1) + 255) & ~static_cast<size_t>(255);
        void* p = std::aligned_alloc(256, rounded);
        if (p == nullptr) return fail("cannot allocate global " + name);
        std::memset(p, 0, rounded);
        size_t esz = static_cast<size_t>(ty_bytes(ty));
        for (size_t k = 0; k < init.size() && (k + 1) * esz <= bytes; k++)
            std::memcpy(static_cast<char*>(p) + k * esz, &init[k], esz);
        out_.globals.push_back({name, p, bytes});
        globals_[name] = {space == ".const" ? S_CONST : S_GLOBAL, reinterpret_cast<uint64_t>(p)};
        return true;
    }

    bool entry() {
        PtxEntry e;
        e.name = t_[pos_++].s;
        scopes_.assign(1, {});
        arrays_.assign(1, {});
        locals_.clear();
        next_slot_ = 0;
        if (peek() == "(") {
            pos_++;
            while (peek() != ")") {
                if (!expect(".param")) return false;
                size_t align = 0;
                Ty ty = Ty::none;
                while (!peek().empty() && peek()[0] == '.') {
                    std::string m = t_[pos_++].s;
                    if (m == ".align") { uint64_t a; if (!number(a)) return false; align = a; }
                    else if (m == ".ptr" || m == ".global" || m == ".shared" || m == ".const" || m == ".local") {}
                    else if ((ty = type_of(m.substr(1))) == Ty::none) return fail("unsupported parameter attribute " + m);
                }
                if (ty == Ty::none) return fail("parameter without a type");
                std::string name = t_[pos_++].s;
                size_t bytes = static_cast<size_t>(ty_bytes(ty));
                while (peek() == "[") {
                    pos_++;
                    uint64_t n;
                    if (!number(n) || !expect("]")) return false;
                    bytes *= n;
                }
                if (align == 0) align = static_cast<size_t>(ty_bytes(ty));
                e.param_bytes = (e.param_bytes + align - 1) / align * align;
                locals_[name] = {S_PARAM, e.param_bytes};
                e.params.push_back({e.param_bytes, bytes});
                e.param_bytes += bytes;
                if (peek() == ",") pos_++;
            }
            pos_++;
        }
        while (peek() != "{") {
            std::string d = t_[pos_++].s;
            if (d == ".maxntid") {
                unsigned dims[3] = {1, 1, 1};
                for (int k = 0; k < 3; k++) {
                    uint64_t v;
                    if (!number(v)) return false;
                    dims[k] = static_cast<unsigned>(v);
                    if (peek() != ",") break;
                    pos_++;
                }
                e.maxntid = dims[0] * dims[1] * dims[2];
            } else if (d == ".minnctapersm") {  // an occupancy hint
                uint64_t v;
                if (!number(v)) return false;
            } else {
                return fail("unsupported entry directive '" + d + "' of " + e.name);
            }
        }
        auto prog = std::make_shared<Program>();
        prog->entry = e.name;
        if (!body(*prog, e)) return false;
        prog->num_regs = next_slot_;
        e.program = prog;
        out_.entries.push_back(std::move(e));
        return true;
    }

    int find_reg(const std::string& name) const {
        for (size_t k = scopes_.size(); k-- > 0;) {
            auto it = scopes_[k].find(name);
            if (it != scopes_[k].end()) return it->second;
            size_t d = name.size();
            while (d > 0 && std::isdigit(static_cast<unsigned char>(name[d - 1]))) d--;
            if (d < name.size() && d > 0) {
                auto a = arrays_[k].find(name.substr(0, d));
                if (a != arrays_[k].end()) {
                    long idx = std::strtol(name.c_str() + d, nullptr, 10);
                    if (idx < a->second.second) return a->second.first + static_cast<int>(idx);
                }
            }
        }
        return -1;
    }

    bool body(Program& prog, PtxEntry& e) {
        std::vector<SharedVar> shared = module_shared_;
        std::map<std::string, int> labels;
        std::vector<std::pair<size_t, std::string>> branches;
        int depth = 0;
        do {
            const std::string& s = peek();
            if (s == "{") { depth++; pos_++; scopes_.emplace_back(); arrays_.emplace_back(); continue; }
            if (s == "}") { depth--; pos_++; scopes_.pop_back(); arrays_.pop_back(); continue; }
            if (s == ".reg") {
                pos_++;
                while (peek() == ".v2" || peek() == ".v4") pos_++;
                if (type_of(peek().substr(1)) == Ty::none) return fail("unsupported register type '" + peek() + "'");
                pos_++;
                while (peek() != ";") {
                    std::string name = t_[pos_++].s;
                    if (peek() == "<") {
                        pos_++;
                        uint64_t n;
                        if (!number(n) || !expect(">")) return false;
                        arrays_.back()[name] = {next_slot_, static_cast<int>(n)};
                        next_slot_ += static_cast<int>(n);
                    } else {
                        scopes_.back()[name] = next_slot_++;
                    }
                    if (peek() == ",") pos_++;
                }
                pos_++;
                continue;
            }
            if (s == ".shared") { if (!variable(false, shared)) return false; continue; }
            if (s == ".local") return fail("local memory (.local) is not supported by the stand-in, in " + e.name);
            if (s == ".param") return fail("function calls (.param in a body) are not supported by the stand-in, in " + e.name);
            if (s == ".pragma") { while (peek() != ";") pos_++; pos_++; continue; }
            if (peek(1) == ":" && !s.empty() && s[0] != '@' && s[0] != '.') {
                labels[s] = static_cast<int>(prog.code.size());
                pos_ += 2;
                continue;
            }
            if (s.empty()) return fail("unterminated body of " + e.name);
            std::string target;
            Insn in;
            if (!instruction(in, target, prog)) return false;
            if (!target.empty()) branches.emplace_back(prog.code.size(), target);
            prog.code.push_back(in);
        } while (depth > 0);
        // Layout of shared memory: static variables in order, then every extern array at one aligned address.
        size_t off = 0, dyn_align = 16;
        std::unordered_map<std::string, Symbol> shared_syms;
        for (const SharedVar& v : shared) {
            if (v.dynamic) { dyn_align = std::max(dyn_align, v.align); continue; }
            off = (off + v.align - 1) / v.align * v.align;
            shared_syms[v.name] = {S_SHARED, off};
            off += v.bytes;
        }
        size_t dyn = (off + dyn_align - 1) / dyn_align * dyn_align;
        for (const SharedVar& v : shared) {
            if (v.dynamic) { shared_syms[v.name] = {S_SHARED, dyn}; prog.uses_dynamic_shared = true; }
        }
        prog.static_shared = dyn;
        e.static_shared_bytes = off;
        // Shared symbols were unknown while decoding: patch the operands that name them.
        for (auto& [idx, name] : pending_shared_) {
            auto it = shared_syms.find(name.second);
            if (it == shared_syms.end()) {
                error_ = "unknown symbol '" + name.second + "' in " + e.name + " at line " + std::to_string(prog.code[idx].line);
                return false;
            }
            prog.code[idx].o[name.first].imm += it->second.address;
        }
        pending_shared_.clear();
        for (auto& [idx, name] : branches) {
            auto it = labels.find(name);
            if (it == labels.end()) {
                error_ = "branch to unknown label '" + name + "' in " + e.name;
                return false;
            }
            prog.code[idx].target = it->second;
            if (static_cast<size_t>(it->second) < prog.code.size()) prog.code[it->second].is_target = true;
        }
        if (prog.code.empty() || (prog.code.back().op != OP_RET && prog.code.back().op != OP_BRA)) {
            Insn ret;
            ret.op = OP_RET;
            ret.line = line();
            prog.code.push_back(ret);
            prog.lines.push_back("ret;  // end of body");
        }
        return true;
    }

    // (instruction index, (operand index, symbol)) of shared symbols to resolve after the body.
    std::vector<std::pair<size_t, std::pair<int, std::string>>> pending_shared_;
    size_t current_index_ = 0;

    bool operand(Operand& o, Ty t, bool address, int which) {
        if (peek() == "!") { pos_++; o.negate = true; }
        const std::string s = t_[pos_++].s;
        if (!s.empty() && s[0] == '%') {
            auto sr = sregs().find(s);
            if (sr != sregs().end()) { o.kind = K_SREG; o.sreg = sr->second; return true; }
            int r = find_reg(s);
            if (r < 0) return fail("undeclared register '" + s + "'");
            o.kind = K_REG;
            o.reg = r;
            return true;
        }
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

    bool instruction(Insn& in, std::string& target, Program& prog) {
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

    bool check_operands(const Insn& in, const std::string& opcode) {
        static const int need[OP_COUNT] = {
            /*MOV*/ 2, /*ADD*/ 3, /*SUB*/ 3, /*MUL*/ 3, /*MAD*/ 4, /*FMA*/ 4, /*DIV*/ 3, /*REM*/ 3, /*ABS*/ 2,
            /*NEG*/ 2, /*MIN*/ 3, /*MAX*/ 3, /*SQRT*/ 2, /*RCP*/ 2, /*EX2*/ 2, /*AND*/ 3, /*OR*/ 3, /*XOR*/ 3,
            /*NOT*/ 2, /*SHL*/ 3, /*SHR*/ 3, /*SETP*/ -1, /*SELP*/ 4, /*CVT*/ 2, /*CVTA*/ 2, /*LD*/ 2, /*ST*/ 2,
            /*BRA*/ 1, /*RET*/ 0, /*BAR*/ -1, /*BAR_RED*/ -1, /*BAR_WARP*/ 1, /*SHFL*/ 5, /*VOTE*/ 3,
            /*ACTIVEMASK*/ 1, /*ATOM*/ -1};
        int n = need[in.op];
        bool ok = n < 0 || in.nops == n;
        if (in.op == OP_SETP) ok = in.nops == 3 || in.nops == 4;
        if (in.op == OP_BAR) ok = in.nops == 1 || in.nops == 2;
        if (in.op == OP_BAR_RED) ok = in.nops == 3 || in.nops == 4;
        if (in.op == OP_ATOM) ok = in.nops == 3 || in.nops == 4;
        if (!ok) return fail("wrong number of operands (" + std::to_string(in.nops) + ") for " + opcode);
        int addr = in.op == OP_ST ? 0 : 1;
        if ((in.op == OP_LD || in.op == OP_ST || in.op == OP_ATOM) && in.o[addr].kind != K_ADDR)
            return fail(opcode + " needs an address operand");
        return true;
    }

    bool decode(const std::string& opcode, Insn& in) {
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
            {"sqrt", OP_SQRT}, {"rcp", OP_RCP}, {"ex2", OP_EX2}, {"and", OP_AND}, {"or", OP_OR}, {"xor", OP_XOR},
            {"not", OP_NOT}, {"shl", OP_SHL}, {"shr", OP_SHR}, {"setp", OP_SETP}, {"selp", OP_SELP},
            {"cvt", OP_CVT}, {"cvta", OP_CVTA}, {"ld", OP_LD}, {"st", OP_ST}, {"bra", OP_BRA}, {"ret", OP_RET},
            {"exit", OP_RET}, {"bar", OP_BAR}, {"barrier", OP_BAR}, {"shfl", OP_SHFL}, {"vote", OP_VOTE},
            {"activemask", OP_ACTIVEMASK}, {"atom", OP_ATOM}};
        auto it = ops.find(base);
        auto unsupported = [&](const std::string& why) {
            return fail("unsupported PTX instruction '" + opcode + "'" + (why.empty() ? "" : " (" + why + ")"));
        };
        if (it == ops.end()) return unsupported("");
        in.op = it->second;
        bool is_cmp_op = in.op == OP_SETP;
        bool cmp_seen = false;
        static const std::unordered_map<std::string, uint8_t> cmps = {
            {"eq", C_EQ}, {"ne", C_NE}, {"lt", C_LT}, {"le", C_LE}, {"gt", C_GT}, {"ge", C_GE}, {"lo", C_LO},
            {"ls", C_LS}, {"hi", C_HI}, {"hs", C_HS}, {"equ", C_EQU}, {"neu", C_NEU}, {"ltu", C_LTU},
            {"leu", C_LEU}, {"gtu", C_GTU}, {"geu", C_GEU}, {"num", C_NUM}, {"nan", C_NAN}};
        static const std::unordered_map<std::string, uint8_t> subs = {
            {"up", X_UP}, {"down", X_DOWN}, {"bfly", X_BFLY}, {"idx", X_IDX}, {"all", X_ALL}, {"any", X_ANY},
            {"uni", X_UNI}, {"ballot", X_BALLOT}, {"popc", X_POPC}, {"add", X_ADD}, {"min", X_MIN},
            {"max", X_MAX}, {"and", X_AND}, {"or", X_OR}, {"xor", X_XOR}, {"cas", X_CAS}};
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
            if (s == "sat" && in.op == OP_CVT) { in.flags |= F_SAT; continue; }
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
            if ((in.op == OP_SHFL || in.op == OP_VOTE || in.op == OP_ATOM || in.op == OP_BAR_RED) && in.sub == X_NONE) {
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
            case OP_FMA: case OP_DIV: case OP_SQRT: case OP_RCP: case OP_EX2:
                if (in.op == OP_DIV && !ty_float(in.t) && tb != 0) break;
                if (in.t != Ty::f32 && in.t != Ty::f64) return unsupported("only f32 and f64");
                break;
            case OP_CVT:
                if (in.t == Ty::none || in.t2 == Ty::none || in.t == Ty::f16x2 || in.t2 == Ty::f16x2 ||
                    in.t == Ty::bf16x2 || in.t2 == Ty::bf16x2 || in.t == Ty::pred)
                    return unsupported("conversion");
                if (in.t2 == Ty::bf16) return unsupported("conversion from bf16");
                if ((in.flags & F_SAT) && !(ty_float(in.t2) && (in.t == Ty::f32 || in.t == Ty::f64)))
                    return unsupported(".sat other than between f32 and f64");
                break;
            case OP_ATOM:
                if (in.sub != X_ADD && in.sub != X_MIN && in.sub != X_MAX && in.sub != X_OR && in.sub != X_CAS)
                    return unsupported("atomic operation");
                if ((in.sub == X_MIN || in.sub == X_MAX) && ty_float(in.t)) return unsupported("float atomic min/max");
                break;
            case OP_SETP:  // lo ls hi hs are integer comparisons, the unordered ones and num/nan float ones
                if (in.t == Ty::f16 || in.t == Ty::bf16 || in.t == Ty::none ||
                    (ty_float(in.t) ? in.cmp >= C_LO && in.cmp <= C_HS : in.cmp >= C_EQU))
                    return unsupported("comparison for this type");
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
};

}  // namespace

CUresult parse_ptx(const char* text, size_t len, PtxModule& out, std::string& error) {
    bool looks_like_ptx = false;
    for (const char* p = text; p + 8 <= text + len && p < text + 4096; p++)
        looks_like_ptx = looks_like_ptx || std::strncmp(p, ".version", 8) == 0;
    if (!looks_like_ptx) {
        error = "the image is neither PTX (no .version directive) nor a fatbin";
        return E_INVALID_IMAGE;
    }
    std::vector<Tok> toks;
    if (!lex(text, len, toks, error)) return E_INVALID_PTX;
    Reader r(toks, out, error);
    if (!r.module()) {
        for (PtxGlobal& g : out.globals) std::free(g.address);
        out.globals.clear();
        return E_INVALID_PTX;
    }
    return OK;
}

}  // namespace emu
