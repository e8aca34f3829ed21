// Just enough of a PTX reader to learn each .entry's call signature and
// whether its threads ever wait for one another. The host build of the same
// .cu source is what actually runs; the PTX only tells us how to call it.
#include <cctype>
#include <cstring>

#include "emu_internal.h"

namespace emu {
namespace {

// Comments can hide braces and parentheses, and .file directives carry
// quoted paths that may contain "//", so strings are copied verbatim.
std::string strip_comments(const char* text, size_t len) {
    std::string out;
    out.reserve(len);
    size_t i = 0;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && text[j] != '"' && text[j] != '\n') j++;
            out.append(text + i, (j < len ? j + 1 : len) - i);
            i = j + 1;
        } else if (c == '/' && i + 1 < len && text[i + 1] == '/') {
            while (i < len && text[i] != '\n') i++;
        } else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(text[i] == '*' && text[i + 1] == '/')) i++;
            i += 2;
            out.push_back(' ');
        } else {
            out.push_back(c);
            i++;
        }
    }
    return out;
}

bool is_punct(char c) {
    return c == '(' || c == ')' || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' ||
           c == ';' || c == '=' || c == '<' || c == '>';
}

struct Lexer {
    const std::string& s;
    size_t pos = 0;

    explicit Lexer(const std::string& src) : s(src) {}

    void skip_space() {
        while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) pos++;
    }
    bool at_end() {
        skip_space();
        return pos >= s.size();
    }
    char peek() {
        skip_space();
        return pos < s.size() ? s[pos] : '\0';
    }
    std::string next() {
        skip_space();
        if (pos >= s.size()) return std::string();
        if (s[pos] == '"') {
            size_t start = pos++;
            while (pos < s.size() && s[pos] != '"') pos++;
            if (pos < s.size()) pos++;
            return s.substr(start, pos - start);
        }
        if (is_punct(s[pos])) return std::string(1, s[pos++]);
        size_t start = pos;
        while (pos < s.size() && !std::isspace(static_cast<unsigned char>(s[pos])) && !is_punct(s[pos]) &&
               s[pos] != '"')
            pos++;
        return s.substr(start, pos - start);
    }
    // Returns the index just past the '}' that closes the '{' at `open`.
    bool skip_braces(size_t open, size_t& end) {
        int depth = 0;
        for (size_t i = open; i < s.size(); i++) {
            if (s[i] == '"') {
                i++;
                while (i < s.size() && s[i] != '"') i++;
            } else if (s[i] == '{') {
                depth++;
            } else if (s[i] == '}') {
                if (--depth == 0) {
                    end = i + 1;
                    return true;
                }
            }
        }
        return false;
    }
};

bool scalar_kind(const std::string& t, ParamKind& kind, size_t& bytes) {
    struct Row { const char* name; ParamKind kind; size_t bytes; };
    static const Row rows[] = {
        {".u8", ParamKind::U8, 1},   {".s8", ParamKind::S8, 1},   {".b8", ParamKind::U8, 1},
        {".u16", ParamKind::U16, 2}, {".s16", ParamKind::S16, 2}, {".b16", ParamKind::U16, 2},
        {".f16", ParamKind::U16, 2}, {".u32", ParamKind::U32, 4}, {".s32", ParamKind::S32, 4},
        {".b32", ParamKind::U32, 4}, {".f32", ParamKind::F32, 4}, {".u64", ParamKind::U64, 8},
        {".s64", ParamKind::S64, 8}, {".b64", ParamKind::U64, 8}, {".f64", ParamKind::F64, 8},
    };
    for (const Row& r : rows) {
        if (t == r.name) {
            kind = r.kind;
            bytes = r.bytes;
            return true;
        }
    }
    return false;
}

// Instructions whose semantics depend on other threads of the block being
// at the same point; kernels without them can run thread after thread.
bool body_synchronises(const std::string& s, size_t begin, size_t end) {
    static const char* const prefixes[] = {"bar.", "barrier.", "shfl.", "vote.", "activemask",
                                           "match.", "redux.", "elect."};
    for (size_t i = begin; i < end; i++) {
        if (i > begin) {
            char before = s[i - 1];
            if (!(std::isspace(static_cast<unsigned char>(before)) || before == ';' || before == '{' ||
                  before == '}'))
                continue;
        }
        for (const char* p : prefixes) {
            size_t n = std::strlen(p);
            if (i + n <= end && s.compare(i, n, p) == 0) return true;
        }
    }
    return false;
}

bool body_has_call(const std::string& s, size_t begin, size_t end) {
    for (size_t i = begin; i + 4 <= end; i++) {
        if (s.compare(i, 4, "call") != 0) continue;
        bool start_ok = i == begin || std::isspace(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == ';' ||
                        s[i - 1] == '{';
        char after = i + 4 < end ? s[i + 4] : ' ';
        if (start_ok && (after == '.' || std::isspace(static_cast<unsigned char>(after)))) return true;
    }
    return false;
}

// Sums `.shared ... .bN name[count];` declarations inside an entry body (nvcc
// demotes block-scope __shared__ arrays into the entry).
size_t body_static_shared(const std::string& s, size_t begin, size_t end) {
    size_t total = 0;
    size_t i = begin;
    while ((i = s.find(".shared", i)) != std::string::npos && i < end) {
        size_t semi = s.find(';', i);
        if (semi == std::string::npos || semi > end) break;
        // Only directives count; instructions look like "ld.shared" / "st.shared".
        bool directive = i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == ';' ||
                         s[i - 1] == '{';
        std::string decl = s.substr(i, semi - i);
        i = semi;
        if (!directive) continue;
        size_t elem = 0;
        static const char* const widths[][2] = {{".b8", "1"}, {".u8", "1"}, {".s8", "1"},
                                                {".b16", "2"}, {".u16", "2"}, {".s16", "2"}, {".f16", "2"},
                                                {".b32", "4"}, {".u32", "4"}, {".s32", "4"}, {".f32", "4"},
                                                {".b64", "8"}, {".u64", "8"}, {".s64", "8"}, {".f64", "8"}};
        for (auto& w : widths) {
            if (decl.find(std::string(w[0]) + " ") != std::string::npos) {
                elem = static_cast<size_t>(std::atoi(w[1]));
                break;
            }
        }
        size_t lb = decl.find('[');
        size_t rb = decl.find(']', lb);
        if (elem == 0 || rb == std::string::npos || rb == lb + 1) continue;
        total += elem * std::strtoull(decl.c_str() + lb + 1, nullptr, 10);
    }
    return total;
}

CUresult parse_param_list(Lexer& lx, PtxEntry& entry, std::string& error) {
    // Called just after '('.
    while (true) {
        std::vector<std::string> toks;
        while (true) {
            if (lx.at_end()) {
                error = "unterminated parameter list of " + entry.name;
                return E_INVALID_PTX;
            }
            std::string t = lx.next();
            if (t == "," || t == ")") {
                if (!toks.empty()) {
                    PtxParam p{ParamKind::U32, 0};
                    bool typed = false;
                    bool array = false;
                    size_t count = 1;
                    for (size_t k = 0; k < toks.size(); k++) {
                        if (toks[k] == "[" && k + 1 < toks.size()) {
                            array = true;
                            count = std::strtoull(toks[k + 1].c_str(), nullptr, 10);
                        }
                        if (!typed && scalar_kind(toks[k], p.kind, p.bytes)) typed = true;
                    }
                    if (toks.front() != ".param" || !typed) {
                        error = "cannot read a parameter of " + entry.name;
                        return E_INVALID_PTX;
                    }
                    if (array) {
                        p.bytes *= count;
                        p.kind = ParamKind::AGGREGATE;
                        entry.has_aggregate = true;
                    }
                    entry.params.push_back(p);
                }
                if (t == ")") return OK;
                break;
            }
            toks.push_back(t);
        }
    }
}

void parse_dims(Lexer& lx, unsigned dims[3]) {
    for (int d = 0; d < 3; d++) {
        std::string t = lx.next();
        dims[d] = static_cast<unsigned>(std::strtoul(t.c_str(), nullptr, 10));
        if (lx.peek() != ',') break;
        lx.next();
    }
}

}  // namespace

CUresult parse_ptx(const char* text, size_t len, PtxModule& out, std::string& error) {
    std::string src = strip_comments(text, len);
    if (src.find(".version") == std::string::npos || src.find(".target") == std::string::npos) {
        error = "image is not PTX text (no .version/.target directive)";
        return E_INVALID_IMAGE;
    }
    Lexer lx(src);
    while (!lx.at_end()) {
        std::string t = lx.next();
        if (t == "{") {
            size_t end;
            if (!lx.skip_braces(lx.pos - 1, end)) {
                error = "unbalanced braces";
                return E_INVALID_PTX;
            }
            lx.pos = end;
        } else if (t == ".entry") {
            PtxEntry e;
            e.name = lx.next();
            if (e.name.empty() || is_punct(e.name[0])) {
                error = "missing entry name";
                return E_INVALID_PTX;
            }
            if (lx.peek() == '(') {
                lx.next();
                CUresult r = parse_param_list(lx, e, error);
                if (r != OK) return r;
            }
            while (!lx.at_end() && lx.peek() != '{' && lx.peek() != ';') {
                std::string d = lx.next();
                if (d == ".maxntid") {
                    unsigned dims[3] = {1, 1, 1};
                    parse_dims(lx, dims);
                    e.maxntid = dims[0] * dims[1] * dims[2];
                } else if (d == ".reqntid") {
                    e.reqntid[0] = e.reqntid[1] = e.reqntid[2] = 1;
                    parse_dims(lx, e.reqntid);
                }
            }
            if (lx.peek() == '{') {
                size_t open = lx.pos;
                size_t end;
                if (!lx.skip_braces(open, end)) {
                    error = "unterminated body of " + e.name;
                    return E_INVALID_PTX;
                }
                e.uses_warp_or_barrier = body_synchronises(src, open, end);
                e.has_call = body_has_call(src, open, end);
                e.static_shared_bytes = body_static_shared(src, open, end);
                lx.pos = end;
            } else {
                lx.next();
            }
            out.entries.push_back(std::move(e));
        } else if (t == ".func") {
            // Optional return parameter list, then name, then parameters.
            if (lx.peek() == '(') {
                while (!lx.at_end() && lx.next() != ")") {
                }
            }
            lx.next();
            if (lx.peek() == '(') {
                while (!lx.at_end() && lx.next() != ")") {
                }
            }
            while (!lx.at_end() && lx.peek() != '{' && lx.peek() != ';') lx.next();
            if (lx.peek() == '{') {
                size_t open = lx.pos;
                size_t end;
                if (!lx.skip_braces(open, end)) {
                    error = "unterminated .func body";
                    return E_INVALID_PTX;
                }
                if (body_synchronises(src, open, end)) out.funcs_use_warp_or_barrier = true;
                lx.pos = end;
            } else {
                lx.next();
            }
        } else if (t == ".global" || t == ".const") {
            // "[.visible] .global .align 4 .f32 name[4] = {...};" -> name
            std::string name;
            bool named = false;
            while (!lx.at_end()) {
                std::string d = lx.next();
                if (d == ";") break;
                if (d == "{") {
                    size_t end;
                    if (!lx.skip_braces(lx.pos - 1, end)) break;
                    lx.pos = end;
                    continue;
                }
                if (named) continue;
                if (d == "[" || d == "=") {
                    named = true;
                } else {
                    name = d;
                }
            }
            if (!name.empty() && name[0] != '.' && !std::isdigit(static_cast<unsigned char>(name[0])))
                out.globals.push_back(name);
        }
    }
    return OK;
}

}  // namespace emu
