// Reads PTX text and decodes every instruction of every .entry into the form
// interp_*.cpp executes (ptx.h). Anything the interpreter cannot execute is
// refused here, naming the instruction and its line, so a module either loads
// completely or not at all. This file: directives, entries and their bodies;
// instructions are decoded by ptx_decode.cpp.
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>

#include "ptx_reader.h"

namespace emu {

bool Reader::module() {
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
        } else if (d == ".func") {
            pos_++;
            if (!skip_function()) return false;
        } else if (d == ".global" || d == ".const" || d == ".shared") {
            if (!variable(is_extern, module_shared_)) return false;
        } else {
            return fail("unsupported PTX directive '" + d + "'");
        }
    }
    return true;
}

bool Reader::skip_function() {
    while (pos_ < t_.size() && peek() != "{" && peek() != ";") pos_++;
    if (peek() == ";") { pos_++; return true; }
    int depth = 0;
    do {
        if (peek() == "{") depth++;
        if (peek() == "}") depth--;
        pos_++;
    } while (pos_ < t_.size() && depth > 0);
    return true;
}

// .global/.const/.shared [.align N] [.vN] .type name [ '[' N? ']' ]* [= init] ;
bool Reader::variable(bool is_extern, std::vector<SharedVar>& shared_list) {
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

bool Reader::entry() {
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
        if (d == ".maxntid" || d == ".reqntid") {
            unsigned dims[3] = {1, 1, 1};
            for (int k = 0; k < 3; k++) {
                uint64_t v;
                if (!number(v)) return false;
                dims[k] = static_cast<unsigned>(v);
                if (peek() != ",") break;
                pos_++;
            }
            if (d == ".maxntid") e.maxntid = dims[0] * dims[1] * dims[2];
            else for (int k = 0; k < 3; k++) e.reqntid[k] = dims[k];
        } else if (d == ".minnctapersm" || d == ".maxnreg" || d == ".maxnctapersm") {
            uint64_t v;
            if (!number(v)) return false;
        } else if (d == ".noreturn") {
        } else {
            return fail("unsupported entry directive '" + d + "' of " + e.name);
        }
    }
    auto prog = std::make_shared<Program>();
    prog->entry = e.name;
    if (!body(*prog, e)) return false;
    e.num_regs = prog->num_regs = next_slot_;
    e.program = prog;
    out_.entries.push_back(std::move(e));
    return true;
}

int Reader::find_reg(const std::string& name) const {
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

bool Reader::body(Program& prog, PtxEntry& e) {
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
