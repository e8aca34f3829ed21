// The PTX reader shared by ptx_lex.cpp (tokens, types, immediates), ptx_parse.cpp
// (directives, entries, bodies) and ptx_decode.cpp (instructions and operands).
// Internal to the stand-in, like everything in namespace emu.
#ifndef FUSEDOPT_EMU_PTX_READER_H
#define FUSEDOPT_EMU_PTX_READER_H

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ptx.h"

namespace emu {

struct Tok {
    std::string s;
    int line;
};

// ---- ptx_lex.cpp ----
// Splits PTX into tokens, dropping comments and the directives that carry no
// meaning for execution and no terminating semicolon.
bool lex(const char* text, size_t len, std::vector<Tok>& out, std::string& error);
Ty type_of(const std::string& m);
// Parses an immediate as a value of type t (integer bits, or the IEEE bits of a float type).
bool immediate(const std::string& s, Ty t, uint64_t& bits);
const std::unordered_map<std::string, uint8_t>& sregs();

struct Symbol {
    Space space;
    uint64_t address;  // shared: offset in the block's window; global/const: host address; param: offset
};

class Reader {
public:
    Reader(std::vector<Tok>& toks, PtxModule& out, std::string& error) : t_(toks), out_(out), error_(error) {}

    bool module();

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

    bool skip_function();

    bool variable(bool is_extern, std::vector<SharedVar>& shared_list);

    bool entry();

    int find_reg(const std::string& name) const;

    bool body(Program& prog, PtxEntry& e);

    // (instruction index, (operand index, symbol)) of shared symbols to resolve after the body.
    std::vector<std::pair<size_t, std::pair<int, std::string>>> pending_shared_;
    size_t current_index_ = 0;

    bool operand(Operand& o, Ty t, bool address, int which);

    bool instruction(Insn& in, std::string& target, Program& prog);

    bool check_operands(const Insn& in, const std::string& opcode);

    bool decode(const std::string& opcode, Insn& in);
};

}  // namespace emu

#endif
