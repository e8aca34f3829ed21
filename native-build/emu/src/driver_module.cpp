// The driver API of the fusedopt CPU stand-in for libcuda.so.1: modules (their PTX is decoded
// by ptx_reader.cpp), function attributes and launches (executed by interp.cpp).
#include <cstring>

#include "driver_internal.h"

namespace emu {

CUresult check_function(Function* f, Context* ctx) {
    if (live(g_functions, f) == nullptr) return fail(E_INVALID_HANDLE, "invalid or unloaded CUfunction");
    if (f->module->ctx != ctx) return fail(E_INVALID_HANDLE, "CUfunction belongs to another context");
    return OK;
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

// PTX text, or a fatbin (also behind the runtime's wrapper) whose PTX is taken out of it.
API CUresult cuModuleLoadData(CUmodule* out, const void* data) {
    EMU_ENTER_CTX(CAT_MODULE)
    const char* what = "cuModuleLoadData";
    const char* image = static_cast<const char*>(data);
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
        CUresult r = fatbin_ptx(u, text, err);
        if (r != OK) return fail(r, std::string(what) + ": " + err);
    } else {
        text.assign(image);
    }
    Module* m = new Module();
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
    m->ctx = c;
    g_modules.insert(m);
    for (Function* f : m->functions) g_functions.insert(f);
    *out = m;
    return OK;
}

API CUresult cuModuleUnload(CUmodule hmod) {
    EMU_ENTER_CTX(CAT_MODULE)
    Module* m = live(g_modules, hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleUnload: invalid module");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    m->live = false;
    for (Function* f : m->functions) f->live = false;
    return OK;
}

API CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
    EMU_ENTER_CTX(CAT_MODULE)
    if (hfunc == nullptr || name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetFunction: null argument");
    Module* m = live(g_modules, hmod);
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
    EMU_ENTER_CTX(CAT_MODULE)
    if (name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetGlobal: null name");
    Module* m = live(g_modules, hmod);
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

#define FUNCTION_ENTER()                                                                           \
    EMU_ENTER_CTX(CAT_NONE)                                                                        \
    Function* f = static_cast<Function*>(h);                                                       \
    if (CUresult r = check_function(f, c)) return r;

static int max_threads_of(const Function* f) {
    if (f->entry.maxntid != 0 && f->entry.maxntid < kMaxThreadsPerBlock) return static_cast<int>(f->entry.maxntid);
    return static_cast<int>(kMaxThreadsPerBlock);
}

API CUresult cuFuncGetAttribute(int* value, int attrib, CUfunction h) {
    FUNCTION_ENTER()
    if (value == nullptr) return fail(E_INVALID_VALUE, "cuFuncGetAttribute: null pointer");
    switch (attrib) {  // the CUfunction_attribute values, 0 for those with nothing to report
        case 0: *value = max_threads_of(f); return OK;
        case 1: *value = static_cast<int>(f->entry.static_shared_bytes); return OK;
        case 4: *value = 32; return OK;  // registers: a plausible count, none are spilled
        case 5: *value = 80; return OK;  // PTX version
        case 6: *value = 90; return OK;  // binary version
        case 8: *value = f->max_dynamic_smem; return OK;
        default:
            if (attrib < 0 || attrib > 15) return fail(E_INVALID_VALUE, "cuFuncGetAttribute: unknown attribute");
            *value = 0;
            return OK;
    }
}

API CUresult cuFuncSetAttribute(CUfunction h, int attrib, int value) {
    FUNCTION_ENTER()
    if (attrib == 8) {
        if (value < 0 || static_cast<size_t>(value) + f->entry.static_shared_bytes > kSharedPerBlockOptin)
            return fail(E_INVALID_VALUE, "cuFuncSetAttribute: dynamic shared memory above the 227 KiB opt-in limit");
        f->max_dynamic_smem = value;
        return OK;
    }
    return fail(E_INVALID_VALUE, "cuFuncSetAttribute: attribute cannot be set");
}

// ================================== launches ==================================

API CUresult cuLaunchKernel(CUfunction h, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                            unsigned bz, unsigned shared, CUstream stream, void** params, void** extra) {
    EMU_ENTER_CTX(CAT_LAUNCH)
    const char* what = "cuLaunchKernel";
    Function* f = static_cast<Function*>(h);
    if (CUresult r = check_function(f, c)) return r;
    if (CUresult r = check_stream(stream)) return r;
    if (extra != nullptr)
        return fail(E_NOT_SUPPORTED, std::string(what) + ": the 'extra' argument buffer is not supported by the "
                                                         "stand-in; pass kernelParams");
    const LaunchConfig cfg{{gx, gy, gz}, {bx, by, bz}, shared, params};
    const unsigned* grid = cfg.grid;
    const unsigned* block = cfg.block;
    for (int d = 0; d < 3; d++) {
        if (grid[d] == 0 || block[d] == 0) return fail(E_INVALID_VALUE, std::string(what) + ": zero grid or block dimension");
    }
    uint64_t threads = static_cast<uint64_t>(bx) * by * bz;
    if (threads > kMaxThreadsPerBlock || bx > 1024 || by > 1024 || bz > 64)
        return fail(E_INVALID_VALUE, std::string(what) + ": block of " + std::to_string(threads) +
                                         " threads exceeds the device limits (1024 threads, 1024x1024x64)");
    if (gy > 65535 || gz > 65535 || gx > 2147483647u)
        return fail(E_INVALID_VALUE, std::string(what) + ": grid dimension exceeds the device limits");
    const PtxEntry& e = f->entry;
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
    // A capture keeps the parameter values: the caller may reuse its argument memory afterwards.
    std::vector<unsigned char> values(e.param_bytes);
    for (size_t i = 0; i < e.params.size(); i++) std::memcpy(values.data() + e.params[i].offset, params[i], e.params[i].bytes);
    return enqueue(stream, c, what, f, [f, cfg, values](Context* ctx, const char* w, bool run) -> CUresult {
        if (!run) return OK;
        std::vector<void*> args;
        for (const PtxParam& p : f->entry.params) args.push_back(const_cast<unsigned char*>(values.data()) + p.offset);
        LaunchConfig k = cfg;
        k.args = args.data();
        return run_kernel(ctx, *f, k, w);
    });
}

