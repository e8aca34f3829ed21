// The driver API of the fusedopt CPU stand-in for libcuda.so.1: device and pinned host
// allocations, copies and memsets. Device memory is host memory; every device range is
// checked against the allocation table before anything is touched.
#include <cstring>

#include "driver_internal.h"

using namespace emu;

// ================================= memory ====================================

API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
    EMU_ENTER_CTX(CAT_ALLOC)
    if (dptr == nullptr) return fail(E_INVALID_VALUE, "null result pointer");
    if (CUresult r = capture_unsafe(c, "cuMemAlloc", false)) return r;
    return allocate(c, bytes, false, reinterpret_cast<void**>(dptr), "cuMemAlloc");
}

API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    EMU_ENTER_CTX(CAT_FREE)
    if (CUresult r = capture_unsafe(c, "cuMemFree", false)) return r;
    return release(dptr, false, "cuMemFree");
}

API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
    EMU_ENTER_CTX(CAT_NONE)
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    size_t used = g_device_bytes + g_host_bytes;
    if (free_bytes) *free_bytes = used >= total_memory() ? 0 : total_memory() - used;
    if (total_bytes) *total_bytes = total_memory();
    return OK;
}

API CUresult cuMemAllocHost_v2(void** pp, size_t bytes) {
    EMU_ENTER_CTX(CAT_ALLOC)
    if (CUresult r = capture_unsafe(c, "cuMemAllocHost", false)) return r;
    return allocate(c, bytes, true, pp, "cuMemAllocHost");
}

API CUresult cuMemFreeHost(void* p) {
    EMU_ENTER_CTX(CAT_FREE)
    if (CUresult r = capture_unsafe(c, "cuMemFreeHost", false)) return r;
    return release(reinterpret_cast<uintptr_t>(p), true, "cuMemFreeHost");
}

// The device allocation that contains dptr (as the driver: device memory of the live contexts,
// not pinned host memory); fusedopt checks a caller's registered tensor against it.
API CUresult cuMemGetAddressRange_v2(CUdeviceptr* pbase, size_t* psize, CUdeviceptr dptr) {
    EMU_ENTER_CTX(CAT_NONE)
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocs.upper_bound(static_cast<uintptr_t>(dptr));
    if (it != g_allocs.begin()) {
        --it;
        if (!it->second.host && dptr >= it->first && dptr < it->first + it->second.size) {
            if (pbase) *pbase = static_cast<CUdeviceptr>(it->first);
            if (psize) *psize = it->second.size;
            return OK;
        }
    }
    return fail(E_INVALID_VALUE, "cuMemGetAddressRange: not inside a device allocation");
}

// ----------------------------------- copies -----------------------------------

// Synchronous copies and memsets run on the legacy stream and block the host: a capture may forbid both.
#define SYNC_ENTER(categories, what)                                                               \
    EMU_ENTER_CTX(categories)                                                                      \
    if (CUresult r = capture_unsafe(c, what, true)) return r;

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    SYNC_ENTER(CAT_COPY | CAT_BLOCKING_COPY, "cuMemcpyHtoD")
    return copy_d_h(reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoD", true);
}

API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    SYNC_ENTER(CAT_COPY | CAT_BLOCKING_COPY, "cuMemcpyDtoH")
    return copy_d_h(dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoH", true);
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    SYNC_ENTER(CAT_COPY | CAT_BLOCKING_COPY, "cuMemcpyDtoD")
    return copy_d_h(reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoD",
                    true);
}

API CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) {
    SYNC_ENTER(CAT_MEMSET, "cuMemsetD32")
    return memset_d32(d, v, n, "cuMemsetD32", true);
}

// Stream-ordered copies: run now or, on a capturing stream, recorded with their addresses (a replay
// reads the host and device memory as it is then).
static CUresult async_copy(CUstream s, Context* c, void* dst, bool dst_dev, const void* src, bool src_dev, size_t n,
                           const char* what) {
    if (n == 0) return enqueue(s, c, what, nullptr, nullptr);
    return enqueue(s, c, what, nullptr, [=](Context*, const char* w, bool run) {
        return copy_d_h(dst, dst_dev, src, src_dev, n, w, run);
    });
}

API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
    EMU_ENTER_CTX(CAT_COPY | CAT_ASYNC_COPY)
    return async_copy(s, c, reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoDAsync");
}

API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER_CTX(CAT_COPY | CAT_ASYNC_COPY)
    return async_copy(s, c, dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoHAsync");
}

API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER_CTX(CAT_COPY | CAT_ASYNC_COPY)
    return async_copy(s, c, reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n,
                      "cuMemcpyDtoDAsync");
}

API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
    EMU_ENTER_CTX(CAT_MEMSET)
    if (n == 0) return enqueue(s, c, "cuMemsetD32Async", nullptr, nullptr);
    return enqueue(s, c, "cuMemsetD32Async", nullptr,
                   [=](Context*, const char* w, bool run) { return memset_d32(d, v, n, w, run); });
}
