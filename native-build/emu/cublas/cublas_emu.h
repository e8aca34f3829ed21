// Declarations of the fusedopt CPU stand-in for libcublas.so.12 (see
// native-build/emu/README.md). Our own copies of the cuBLAS ABI types and
// values: no CUDA header is included.
#ifndef FUSEDOPT_CUBLAS_EMU_H
#define FUSEDOPT_CUBLAS_EMU_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#define CUBLAS_EMU_EXPORT extern "C" __attribute__((visibility("default")))

typedef int cublasStatus_t;
typedef struct cublasEmuContext* cublasHandle_t;
typedef void* cudaStream_t;
typedef int cublasOperation_t;
typedef int cublasPointerMode_t;
typedef int cublasMath_t;

enum : cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

// From libcuda.so.1 (the driver stand-in, native-build/emu/src/driver_*.cpp).
extern "C" void* fusedopt_emu_library_counter(const char* name);
extern "C" int fusedopt_emu_device_range(unsigned long long p, size_t n);
extern "C" void fusedopt_emu_note_failure(const char* msg);

// Every exported entry point starts with this: counts the call under its own
// name (StandIn.count("cublasSgemm_v2"), category "cublas").
#define CUBLAS_EMU_ENTER()                                                                          \
    static std::atomic<uint64_t>* const cublas_emu_counter_ =                                      \
        static_cast<std::atomic<uint64_t>*>(fusedopt_emu_library_counter(__func__));               \
    cublas_emu_counter_->fetch_add(1, std::memory_order_relaxed);

// Imported by JCublas2 but not implemented: defined so that a call returns
// CUBLAS_STATUS_NOT_SUPPORTED instead of killing the JVM. All of them return
// cublasStatus_t in the real library.
#define CUBLAS_EMU_NOT_SUPPORTED(fn)                                                                \
    CUBLAS_EMU_EXPORT cublasStatus_t fn(void) {                                                     \
        CUBLAS_EMU_ENTER()                                                                          \
        fusedopt_emu_note_failure(#fn " is not supported by the fusedopt cuBLAS stand-in");        \
        return CUBLAS_STATUS_NOT_SUPPORTED;                                                         \
    }

#endif
