// Extracts the PTX embedded in fatbin images, decompressing it when nvcc compressed it.
#include <dlfcn.h>

#include <cstring>

#include "emu_internal.h"

namespace emu {

// ---- fatbin ---------------------------------------------------------------------
// Layout (little endian): a 16-byte header {u32 magic 0xBA55ED50, u16 version,
// u16 header size, u64 size of the entries}, then entries, each with a header
// {u16 kind (1 PTX, 2 ELF), u16 version, u32 header size, u64 padded payload
// size, u32 compressed size at 0x10, u32 arch at 0x1c (90 = sm_90), u64 flags at
// 0x28 (0x2000 LZ4, 0x8000 zstd), u64 decompressed size
// at 0x38} followed by the payload. The CUDA runtime's wrapper (magic
// 0x466243B1) points at such a fatbin.
namespace {

template <class T>
T rd(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// nvcc 13 compresses the PTX with zstd; the system library is opened on first use, so the build
// needs no headers for it. (Fatbins of older nvcc, compressed with LZ4, are refused.)
bool decompress(const unsigned char* src, size_t n, std::string& out, size_t size, std::string& error) {
    void* h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        error = std::string("the fatbin's PTX is compressed and libzstd.so.1 cannot be opened: ") + dlerror();
        return false;
    }
    out.assign(size, '\0');
    auto fn = reinterpret_cast<size_t (*)(void*, size_t, const void*, size_t)>(dlsym(h, "ZSTD_decompress"));
    auto is_error = reinterpret_cast<unsigned (*)(size_t)>(dlsym(h, "ZSTD_isError"));
    size_t r = fn ? fn(&out[0], size, src, n) : static_cast<size_t>(-1);
    if (fn == nullptr || is_error == nullptr || is_error(r)) { error = "zstd decompression of the fatbin's PTX failed"; return false; }
    out.resize(r);
    return true;
}

}  // namespace

CUresult fatbin_ptx(const unsigned char* image, std::string& ptx, std::string& error) {
    if (rd<uint32_t>(image) == 0x466243B1u) image = reinterpret_cast<const unsigned char*>(rd<uint64_t>(image + 8));
    if (image == nullptr || rd<uint32_t>(image) != 0xBA55ED50u) { error = "not a fatbin"; return E_INVALID_IMAGE; }
    uint16_t header = rd<uint16_t>(image + 6);
    uint64_t total = rd<uint64_t>(image + 8);
    if (header != 16 || total == 0 || total > (1ull << 32)) {
        error = "malformed fatbin header";
        return E_INVALID_IMAGE;
    }
    const unsigned char* p = image + header;
    const unsigned char* end = p + total;
    const unsigned char* best = nullptr;
    uint32_t best_arch = 0;
    while (p + 64 <= end) {
        uint16_t kind = rd<uint16_t>(p);
        uint32_t eh = rd<uint32_t>(p + 4);
        uint64_t payload = rd<uint64_t>(p + 8);
        if (eh < 64 || p + eh + payload > end) { error = "malformed fatbin entry"; return E_INVALID_IMAGE; }
        uint32_t arch = rd<uint32_t>(p + 0x1c);
        if (kind == 1 && arch >= best_arch) { best = p; best_arch = arch; }
        p += eh + payload;
    }
    if (best == nullptr) {
        error = "the fatbin holds no PTX (only SASS, which the stand-in cannot execute)";
        return E_INVALID_IMAGE;
    }
    uint32_t eh = rd<uint32_t>(best + 4);
    uint64_t payload = rd<uint64_t>(best + 8);
    uint32_t stored = rd<uint32_t>(best + 0x10);
    uint64_t flags = rd<uint64_t>(best + 0x28);
    uint64_t size = rd<uint64_t>(best + 0x38);
    const unsigned char* data = best + eh;
    if (stored == 0 || stored > payload) stored = static_cast<uint32_t>(payload);
    if (flags & 0x2000) {
        error = "the fatbin's PTX is LZ4-compressed (nvcc before 13); rebuild it with nvcc 13";
        return E_INVALID_IMAGE;
    }
    if (flags & 0x8000) {
        if (!decompress(data, stored, ptx, size, error)) return E_INVALID_IMAGE;
    } else {
        ptx.assign(reinterpret_cast<const char*>(data), payload);
    }
    size_t nul = ptx.find('\0');
    if (nul != std::string::npos) ptx.resize(nul);
    return OK;
}

}  // namespace emu
