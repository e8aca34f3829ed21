// The driver API of the fusedopt CPU stand-in for libcuda.so.1: device, managed and pinned
// host allocations, copies and memsets. Device memory is host memory; every device range is
// checked against the allocation table before anything is touched.
#include <cstring>

#include "driver_internal.h"

using namespace emu;

// ================================= memory ====================================

API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr) return fail(E_INVALID_VALUE, "null result pointer");
    if (CUresult r = capture_unsafe("cuMemAlloc")) return r;
    void* p = nullptr;
    CUresult r = allocate(c, bytes, K_DEVICE, 0, &p, "cuMemAlloc");
    if (r == OK) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}

API CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr) return fail(E_INVALID_VALUE, "null result pointer");
    if (CUresult r = capture_unsafe("cuMemAllocManaged")) return r;
    void* p = nullptr;
    CUresult r = allocate(c, bytes, K_MANAGED, flags, &p, "cuMemAllocManaged");
    if (r == OK) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}

API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = capture_unsafe("cuMemFree")) return r;
    return release(dptr, false, "cuMemFree");
}

API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Capture* cap;
    if (CUresult r = capture_of(stream, c, "cuMemFreeAsync", cap)) return r;
    if (cap != nullptr) return fail(E_NOT_SUPPORTED, "cuMemFreeAsync: free nodes in a stream capture are not supported by the stand-in");
    return release(dptr, false, "cuMemFreeAsync");
}

API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    size_t used = g_device_bytes + g_host_bytes;
    if (free_bytes) *free_bytes = used >= total_memory() ? 0 : total_memory() - used;
    if (total_bytes) *total_bytes = total_memory();
    return OK;
}

API CUresult cuMemAllocHost_v2(void** pp, size_t bytes) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = capture_unsafe("cuMemAllocHost")) return r;
    return allocate(c, bytes, K_HOST, 0, pp, "cuMemAllocHost");
}

API CUresult cuMemHostAlloc(void** pp, size_t bytes, unsigned int flags) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = capture_unsafe("cuMemHostAlloc")) return r;
    return allocate(c, bytes, K_HOST, flags, pp, "cuMemHostAlloc");
}

API CUresult cuMemFreeHost(void* p) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = capture_unsafe("cuMemFreeHost")) return r;
    return release(reinterpret_cast<uintptr_t>(p), true, "cuMemFreeHost");
}

API CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr* dptr, void* p, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr || flags != 0) return fail(E_INVALID_VALUE, "cuMemHostGetDevicePointer: bad arguments");
    if (!inside_device_memory(reinterpret_cast<uintptr_t>(p)))
        return fail(E_INVALID_VALUE, "cuMemHostGetDevicePointer: not a pinned host allocation");
    *dptr = reinterpret_cast<CUdeviceptr>(p);
    return OK;
}

// The device allocation that contains dptr (as the driver: device and managed memory of the live contexts,
// not pinned host memory); fusedopt checks a caller's registered tensor against it.
API CUresult cuMemGetAddressRange_v2(CUdeviceptr* pbase, size_t* psize, CUdeviceptr dptr) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocs.upper_bound(static_cast<uintptr_t>(dptr));
    if (it != g_allocs.begin()) {
        --it;
        if (it->second.kind != K_HOST && dptr >= it->first && dptr < it->first + it->second.size) {
            if (pbase) *pbase = static_cast<CUdeviceptr>(it->first);
            if (psize) *psize = it->second.size;
            return OK;
        }
    }
    return fail(E_INVALID_VALUE, "cuMemGetAddressRange: not inside a device allocation");
}

// ----------------------------------- copies -----------------------------------

#define COPY_PROLOGUE()                             \
    Context* c;                                     \
    if (CUresult r = need_context(c)) return r;

// Synchronous copies and memsets run on the legacy stream and block the host: a capture may forbid both.
#define SYNC_PROLOGUE(what)                                          \
    COPY_PROLOGUE()                                                  \
    if (CUresult r = capture_unsafe(what)) return r;                 \
    if (CUresult r = capture_legacy(c, what)) return r;

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    SYNC_PROLOGUE("cuMemcpyHtoD")
    return copy_d_h(reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoD");
}

API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    SYNC_PROLOGUE("cuMemcpyDtoH")
    return copy_d_h(dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoH");
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    SYNC_PROLOGUE("cuMemcpyDtoD")
    return copy_d_h(reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoD");
}

API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    return stream_copy(s, reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoDAsync");
}

API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    return stream_copy(s, dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoHAsync");
}

API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    return stream_copy(s, reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n,
                       "cuMemcpyDtoDAsync");
}

// Unified addressing: a pointer inside an allocation is device memory and
// must hold the whole range; anything else is host memory.
static CUresult unified_copy(CUdeviceptr dst, CUdeviceptr src, size_t n, const char* what) {
    bool dd = inside_device_memory(dst);
    bool sd = inside_device_memory(src);
    return copy_d_h(reinterpret_cast<void*>(dst), dd, reinterpret_cast<const void*>(src), sd, n, what);
}

API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    SYNC_PROLOGUE("cuMemcpy")
    return unified_copy(dst, src, n, "cuMemcpy");
}

API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    return stream_copy(s, reinterpret_cast<void*>(dst), inside_device_memory(dst), reinterpret_cast<const void*>(src),
                       inside_device_memory(src), n, "cuMemcpyAsync");
}

API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
    EMU_ENTER(CAT_MEMSET)
    SYNC_PROLOGUE("cuMemsetD8")
    return memset_n(d, v, n, 1, "cuMemsetD8");
}

API CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) {
    EMU_ENTER(CAT_MEMSET)
    SYNC_PROLOGUE("cuMemsetD32")
    return memset_n(d, v, n, 4, "cuMemsetD32");
}

API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    return stream_memset(s, d, v, n, 1, "cuMemsetD8Async");
}

API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    return stream_memset(s, d, v, n, 4, "cuMemsetD32Async");
}
