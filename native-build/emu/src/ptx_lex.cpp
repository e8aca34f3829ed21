// Tokens, types, immediates and special registers of PTX text (ptx_reader.h).
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "ptx_reader.h"

namespace emu {

namespace {
bool punct(char c) { return std::strchr("(){}[],;=<>+!@|", c) != nullptr; }
}  // namespace


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
        if (c == '/' && i + 1 < len && text[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(text[i] == '*' && text[i + 1] == '/')) { if (text[i] == '\n') line++; i++; }
            i += 2;
            continue;
        }
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
        {"%nctaid.z", SR_NCTAID_Z}, {"%laneid", SR_LANEID}, {"%warpid", SR_WARPID}, {"%nwarpid", SR_NWARPID},
        {"%smid", SR_SMID}, {"%nsmid", SR_NSMID}, {"%gridid", SR_GRIDID}, {"%lanemask_eq", SR_LANEMASK_EQ},
        {"%lanemask_lt", SR_LANEMASK_LT}, {"%lanemask_le", SR_LANEMASK_LE}, {"%lanemask_gt", SR_LANEMASK_GT},
        {"%lanemask_ge", SR_LANEMASK_GE}, {"%clock", SR_CLOCK}, {"%clock64", SR_CLOCK64},
        {"%globaltimer", SR_GLOBALTIMER}, {"%dynamic_smem_size", SR_DYN_SMEM},
        {"%total_smem_size", SR_TOTAL_SMEM}, {"WARP_SZ", SR_WARPSIZE}};
    return m;
}

}  // namespace emu
