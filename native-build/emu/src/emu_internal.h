// Internal declarations shared by the translation units of the CPU stand-in
// for libcuda.so.1. Nothing here is part of any public ABI except the
// symbols marked EMU_EXPORT.
#ifndef FUSEDOPT_EMU_INTERNAL_H
#define FUSEDOPT_EMU_INTERNAL_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

// Our own copies of the driver's ABI types. We deliberately do not include
// cuda.h: the installed one belongs to a newer toolkit whose macros remap
// the entry point names, and the library only needs the numeric values.
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

namespace emu {

enum : CUresult {
    OK = 0,
    E_INVALID_VALUE = 1,
    E_OUT_OF_MEMORY = 2,
    E_NOT_INITIALIZED = 3,
    E_INVALID_DEVICE = 101,
    E_INVALID_IMAGE = 200,
    E_INVALID_CONTEXT = 201,
    E_INVALID_PTX = 218,
    E_INVALID_HANDLE = 400,
    E_ILLEGAL_STATE = 401,
    E_NOT_FOUND = 500,
    E_ILLEGAL_ADDRESS = 700,
    E_LAUNCH_OUT_OF_RESOURCES = 701,
    E_LAUNCH_TIMEOUT = 702,
    E_ASSERT = 710,
    E_ILLEGAL_INSTRUCTION = 715,
    E_MISALIGNED_ADDRESS = 716,
    E_LAUNCH_FAILED = 719,
    E_NOT_SUPPORTED = 801,
    E_CAPTURE_UNSUPPORTED = 900,
    E_CAPTURE_INVALIDATED = 901,
    E_CAPTURE_MERGE = 902,
    E_CAPTURE_UNMATCHED = 903,
    E_CAPTURE_UNJOINED = 904,
    E_CAPTURE_ISOLATION = 905,
    E_CAPTURE_IMPLICIT = 906,
    E_CAPTURED_EVENT = 907,
    E_CAPTURE_WRONG_THREAD = 908,
    E_UNKNOWN = 999,
};

// Categories a driver entry point can belong to; used both for the
// convenience counters of the Java control API and for fault injection.
enum Category : unsigned {
    CAT_NONE = 0,
    CAT_COPY = 1u << 0,
    CAT_BLOCKING_COPY = 1u << 1,
    CAT_ASYNC_COPY = 1u << 2,
    CAT_LAUNCH = 1u << 3,
    CAT_SYNC = 1u << 4,
    CAT_ALLOC = 1u << 5,
    CAT_FREE = 1u << 6,
    CAT_MEMSET = 1u << 7,
    CAT_MODULE = 1u << 8,
    // Entry points of libcublas.so.12 (native-build/emu/cublas): counted here so
    // that StandIn.count works for them, but not driver calls, so not in "any".
    CAT_CUBLAS = 1u << 9,
    // cuGraphLaunch: one call replays a whole graph, whose kernels are not launch calls.
    CAT_GRAPH_LAUNCH = 1u << 10,
    // Calls that should never be failed by an "any" fault: they are what a
    // caller uses to describe the failure it just got.
    CAT_NO_FAULT = 1u << 30,
};

struct Counter {
    const char* name;
    unsigned categories;
    std::atomic<uint64_t> calls{0};
};

Counter* register_counter(const char* name, unsigned categories);
// Returns a non-zero code when an injected fault fires for this call.
CUresult injected_fault(unsigned categories, const char* name);
extern std::atomic<int> g_faults_pending;

void set_last_error(const std::string& msg);
void note_failure(const std::string& msg);  // also printed unless quiet

// Every exported driver entry point starts with this: it counts the call under
// its own name and lets an armed fault injection fail it.
#define EMU_ENTER(categories)                                                                      \
    static ::emu::Counter* const emu_counter_ = ::emu::register_counter(__func__, (categories));   \
    emu_counter_->calls.fetch_add(1, std::memory_order_relaxed);                                  \
    if (::emu::g_faults_pending.load(std::memory_order_relaxed) != 0) {                           \
        CUresult emu_fault_ = ::emu::injected_fault((categories), __func__);                        \
        if (emu_fault_ != 0) return emu_fault_;                                                     \
    }

// Entry points JCuda imports but the stand-in does not implement: defined so
// that calling one yields an error code instead of killing the JVM.
#define EMU_NOT_SUPPORTED(fn)                                                                      \
    EMU_EXPORT CUresult fn(void) {                                                                 \
        EMU_ENTER(::emu::CAT_NONE)                                                                 \
        ::emu::set_last_error(#fn " is not supported by the fusedopt CPU stand-in");               \
        return ::emu::E_NOT_SUPPORTED;                                                             \
    }

// ---- PTX ----------------------------------------------------------------
// The decoded instructions of a module (ptx_reader.cpp); executed by interp.cpp.
struct Program;

struct PtxParam {
    size_t offset;  // in the entry's parameter buffer
    size_t bytes;
};

struct PtxEntry {
    std::string name;
    std::vector<PtxParam> params;
    size_t param_bytes = 0;
    unsigned maxntid = 0;  // product of .maxntid, 0 when absent
    size_t static_shared_bytes = 0;
    std::shared_ptr<const Program> program;
};

// A module-scope .global or .const variable: its storage lives as long as the process.
struct PtxGlobal {
    std::string name;
    void* address = nullptr;
    size_t bytes = 0;
};

struct PtxModule {
    std::vector<PtxEntry> entries;
    std::vector<PtxGlobal> globals;
};

// Parses and decodes a whole PTX module. Returns OK, E_INVALID_IMAGE (not
// PTX at all) or E_INVALID_PTX (PTX we cannot execute, naming the construct).
CUresult parse_ptx(const char* text, size_t len, PtxModule& out, std::string& error);

// The PTX of the newest virtual architecture embedded in a fatbin image,
// decompressed when nvcc compressed it. E_INVALID_IMAGE when the image is not
// a well-formed fatbin or holds no PTX.
CUresult fatbin_ptx(const unsigned char* image, std::string& ptx, std::string& error);

// ---- execution ----------------------------------------------------------
struct Function;

// Memory a kernel may touch through global addresses, sorted by `lo`.
struct MemRange {
    uintptr_t lo, hi;
    bool freed;  // released by the program: any access is a use after free
};

struct LaunchConfig {
    unsigned grid[3];
    unsigned block[3];
    size_t dynamic_smem;
    void** args;
};

// Runs a whole grid synchronously, checking every access. On a kernel-level
// failure returns the error code and fills message.
CUresult execute_grid(const Function& fn, const LaunchConfig& cfg, const std::vector<MemRange>& memory,
                      std::string& message);

struct Module;

struct Function {
    std::string name;
    PtxEntry entry;
    Module* module = nullptr;
    bool live = true;
    int max_dynamic_smem = 48 * 1024;
};

constexpr unsigned kWarpSize = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kSharedPerBlock = 48 * 1024;
constexpr size_t kSharedPerBlockOptin = 227 * 1024;

void fill_nan_pattern(void* p, size_t bytes);

}  // namespace emu

#endif
