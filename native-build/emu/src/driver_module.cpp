// The driver API of the fusedopt CPU stand-in for libcuda.so.1: modules (their PTX is decoded
// by ptx_*.cpp), function attributes and launches (executed by interp_*.cpp).
#include <cstring>
#include <fstream>
#include <sstream>

#include "driver_internal.h"

namespace emu {

// ---- modules --------------------------------------------------------------------

CUresult load_module(const char* image, size_t max_len, Module** out, const char* what) {
    Context* ctx;
    if (CUresult r = need_context(ctx)) return r;
    if (out == nullptr || image == nullptr) return fail(E_INVALID_VALUE, std::string(what) + ": null argument");
    // Byte-wise (short-circuiting) so that a short PTX string is never over-read.
    const unsigned char* u = reinterpret_cast<const unsigned char*>(image);
    bool elf = u[0] == 0x7f && u[1] == 'E' && u[2] == 'L' && u[3] == 'F';
    bool fatbin = u[0] == 0x50 && u[1] == 0xED && u[2] == 0x55 && u[3] == 0xBA;
    bool fatbin_wrapper = u[0] == 0xB1 && u[1] == 0x43 && u[2] == 0x62 && u[3] == 0x46;
    if (elf)
        return fail(E_INVALID_IMAGE, std::string(what) + ": a cubin holds only SASS, which the CPU stand-in cannot "
                                                         "execute; load a fatbin with PTX, or the PTX");
    std::string text;
    std::string err;
    if (fatbin || fatbin_wrapper) {
        if (max_len < 16) return fail(E_INVALID_IMAGE, std::string(what) + ": truncated fatbin");
        CUresult r = fatbin_ptx(u, text, err);
        if (r != OK) return fail(r, std::string(what) + ": " + err);
    } else {
        text.assign(image, strnlen(image, max_len));
    }
    Module* m = new Module();
    m->from_fatbin = fatbin || fatbin_wrapper;
    CUresult r = parse_ptx(text.data(), text.size(), m->ptx, err);
    if (r != OK) {
        delete m;
        return fail(r, std::string(what) + ": " + err);
    }
    {
        // A test may stand in an altered copy of a module for the one the program loads (matched by
        // its entry names), to prove that the code executed is the code loaded.
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        if (!g_module_override.empty()) {
            PtxModule alt;
            std::string alt_err;
            if (parse_ptx(g_module_override.data(), g_module_override.size(), alt, alt_err) == OK) {
                bool same = alt.entries.size() == m->ptx.entries.size();
                for (size_t i = 0; same && i < alt.entries.size(); i++) same = alt.entries[i].name == m->ptx.entries[i].name;
                if (same) m->ptx = std::move(alt);
            }
        }
    }
    for (const PtxEntry& e : m->ptx.entries) {
        Function* f = new Function();
        f->name = e.name;
        f->entry = e;
        f->module = m;
        m->functions.push_back(f);
    }
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    for (const PtxGlobal& g : m->ptx.globals) g_module_globals[reinterpret_cast<uintptr_t>(g.address)] = g.bytes;
    g_memory_map_stale = true;
    m->ctx = ctx;
    g_modules.insert(m);
    for (Function* f : m->functions) g_functions.insert(f);
    *out = m;
    return OK;
}

CUresult check_function(Function* f, Context* ctx) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (f == nullptr || g_functions.count(f) == 0 || !f->live)
        return fail(E_INVALID_HANDLE, "invalid or unloaded CUfunction");
    if (f->module->ctx != ctx) return fail(E_INVALID_HANDLE, "CUfunction belongs to another context");
    return OK;
}

Module* live_module(void* h) {
    Module* m = static_cast<Module*>(h);
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    return (m != nullptr && g_modules.count(m) != 0 && m->live) ? m : nullptr;
}

int max_threads_of(const Function* f) {
    if (f->entry.reqntid[0] != 0) return static_cast<int>(f->entry.reqntid[0] * f->entry.reqntid[1] * f->entry.reqntid[2]);
    if (f->entry.maxntid != 0 && f->entry.maxntid < kMaxThreadsPerBlock) return static_cast<int>(f->entry.maxntid);
    return static_cast<int>(kMaxThreadsPerBlock);
}


CUresult launch(Function* f, const unsigned grid[3], const unsigned block[3], unsigned shared, void* stream,
                void** params, void** extra, const char* what) {
    Context* ctx;
    if (CUresult r = need_context(ctx)) return r;
    if (CUresult r = check_function(f, ctx)) return r;
    if (CUresult r = check_stream(stream)) return r;
    if (extra != nullptr)
        return fail(E_NOT_SUPPORTED, std::string(what) + ": the 'extra' argument buffer is not supported by the "
                                                         "stand-in; pass kernelParams");
    for (int d = 0; d < 3; d++) {
        if (grid[d] == 0 || block[d] == 0) return fail(E_INVALID_VALUE, std::string(what) + ": zero grid or block dimension");
    }
    uint64_t threads = static_cast<uint64_t>(block[0]) * block[1] * block[2];
    if (threads > kMaxThreadsPerBlock || block[0] > 1024 || block[1] > 1024 || block[2] > 64)
        return fail(E_INVALID_VALUE, std::string(what) + ": block of " + std::to_string(threads) +
                                         " threads exceeds the device limits (1024 threads, 1024x1024x64)");
    if (grid[1] > 65535 || grid[2] > 65535 || grid[0] > 2147483647u)
        return fail(E_INVALID_VALUE, std::string(what) + ": grid dimension exceeds the device limits");
    const PtxEntry& e = f->entry;
    if (e.reqntid[0] != 0 && (block[0] != e.reqntid[0] || block[1] != e.reqntid[1] || block[2] != e.reqntid[2]))
        return fail(E_INVALID_VALUE, std::string(what) + ": block shape differs from the kernel's .reqntid");
    if (e.maxntid != 0 && threads > e.maxntid)
        return fail(E_LAUNCH_OUT_OF_RESOURCES, std::string(what) + ": " + std::to_string(threads) +
                                                   " threads exceed the kernel's __launch_bounds__ of " +
                                                   std::to_string(e.maxntid));
    if (shared > static_cast<unsigned>(f->max_dynamic_smem) || e.static_shared_bytes + shared > kSharedPerBlockOptin)
        return fail(E_INVALID_VALUE, std::string(what) + ": " + std::to_string(shared) +
                                         " bytes of dynamic shared memory exceed the kernel's limit of " +
                                         std::to_string(f->max_dynamic_smem) +
                                         " (raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)");
    if (!e.params.empty() && params == nullptr)
        return fail(E_INVALID_VALUE, std::string(what) + ": kernel " + f->name + " takes " +
                                         std::to_string(e.params.size()) + " parameters but kernelParams is null");
    for (size_t i = 0; i < e.params.size(); i++) {
        if (params[i] == nullptr)
            return fail(E_INVALID_VALUE, std::string(what) + ": kernelParams[" + std::to_string(i) + "] is null");
    }
    LaunchConfig cfg{{grid[0], grid[1], grid[2]}, {block[0], block[1], block[2]}, shared, params};
    Capture* cap;
    if (CUresult r = capture_of(stream, ctx, what, cap)) return r;
    if (cap != nullptr) {
        record_kernel(stream, f, cfg);
        return OK;
    }
    return run_kernel(ctx, *f, cfg, what);
}

CUresult run_kernel(Context* ctx, const Function& f, const LaunchConfig& cfg, const char* what) {
    std::string message;
    CUresult r = execute_grid(f, cfg, memory_map(), message);
    if (r != OK) {
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        make_sticky(ctx, r, message);
        note_failure(std::string(what) + ": " + message);
    }
    return r;
}

}  // namespace emu

using namespace emu;

// ================================== modules ==================================

API CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadData");
}

API CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int, int*, void**) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadDataEx");
}

API CUresult cuModuleLoadFatBinary(CUmodule* module, const void* image) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadFatBinary");
}

API CUresult cuModuleLoad(CUmodule* module, const char* fname) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (fname == nullptr) return fail(E_INVALID_VALUE, "cuModuleLoad: null file name");
    std::ifstream in(fname, std::ios::binary);
    if (!in) return fail(E_FILE_NOT_FOUND, std::string("cuModuleLoad: cannot read ") + fname);
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    if (text.size() < 4) text.resize(4, '\0');
    return load_module(text.c_str(), text.size(), reinterpret_cast<Module**>(module), "cuModuleLoad");
}

API CUresult cuModuleUnload(CUmodule hmod) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleUnload: invalid module");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    m->live = false;
    for (Function* f : m->functions) f->live = false;
    return OK;
}

API CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (hfunc == nullptr || name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetFunction: null argument");
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleGetFunction: invalid module");
    for (Function* f : m->functions) {
        if (f->name == name) {
            *hfunc = f;
            return OK;
        }
    }
    return fail(E_NOT_FOUND, std::string("cuModuleGetFunction: no entry named ") + name + " in the module");
}

API CUresult cuModuleGetGlobal_v2(CUdeviceptr* dptr, size_t* bytes, CUmodule hmod, const char* name) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetGlobal: null name");
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleGetGlobal: invalid module");
    for (const PtxGlobal& g : m->ptx.globals) {
        if (g.name == name) {
            if (dptr) *dptr = reinterpret_cast<CUdeviceptr>(g.address);
            if (bytes) *bytes = g.bytes;
            return OK;
        }
    }
    return fail(E_NOT_FOUND, std::string("cuModuleGetGlobal: no global named ") + name);
}

// ================================= functions =================================

static CUresult function_for_query(CUfunction h, Function*& f) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    f = static_cast<Function*>(h);
    return check_function(f, c);
}

API CUresult cuFuncGetAttribute(int* value, int attrib, CUfunction h) {
    EMU_ENTER(CAT_NONE)
    Function* f;
    if (CUresult r = function_for_query(h, f)) return r;
    if (value == nullptr) return fail(E_INVALID_VALUE, "cuFuncGetAttribute: null pointer");
    switch (attrib) {
        case 0: *value = max_threads_of(f); return OK;
        case 1: *value = static_cast<int>(f->entry.static_shared_bytes); return OK;
        case 2: *value = 0; return OK;
        case 3: *value = 0; return OK;
        case 4: *value = 32; return OK;
        case 5: *value = 80; return OK;
        case 6: *value = 90; return OK;
        case 7: *value = 0; return OK;
        case 8: *value = f->max_dynamic_smem; return OK;
        case 9: *value = f->preferred_carveout; return OK;
        default:
            if (attrib >= 10 && attrib <= 15) {
                *value = 0;
                return OK;
            }
            return fail(E_INVALID_VALUE, "cuFuncGetAttribute: unknown attribute");
    }
}

API CUresult cuFuncSetAttribute(CUfunction h, int attrib, int value) {
    EMU_ENTER(CAT_NONE)
    Function* f;
    if (CUresult r = function_for_query(h, f)) return r;
    if (attrib == 8) {
        if (value < 0 || static_cast<size_t>(value) + f->entry.static_shared_bytes > kSharedPerBlockOptin)
            return fail(E_INVALID_VALUE, "cuFuncSetAttribute: dynamic shared memory above the 227 KiB opt-in limit");
        f->max_dynamic_smem = value;
        return OK;
    }
    if (attrib == 9) {
        if (value < -1 || value > 100) return fail(E_INVALID_VALUE, "cuFuncSetAttribute: carveout out of range");
        f->preferred_carveout = value;
        return OK;
    }
    return fail(E_INVALID_VALUE, "cuFuncSetAttribute: attribute cannot be set");
}

// ================================== launches ==================================

API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                            unsigned bz, unsigned shared, CUstream stream, void** params, void** extra) {
    EMU_ENTER(CAT_LAUNCH)
    const unsigned grid[3] = {gx, gy, gz};
    const unsigned block[3] = {bx, by, bz};
    return launch(static_cast<Function*>(f), grid, block, shared, stream, params, extra, "cuLaunchKernel");
}

API CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                       unsigned bz, unsigned shared, CUstream stream, void** params) {
    EMU_ENTER(CAT_LAUNCH)
    const unsigned grid[3] = {gx, gy, gz};
    const unsigned block[3] = {bx, by, bz};
    return launch(static_cast<Function*>(f), grid, block, shared, stream, params, nullptr,
                  "cuLaunchCooperativeKernel");
}
