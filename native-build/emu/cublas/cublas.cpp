// The fusedopt CPU stand-in for libcuda's companion libcublas.so.12: the
// handle/stream/mode API and a few single-precision routines, computed on the
// host, column-major as cuBLAS documents. Device pointers are host addresses
// (see the driver stand-in), so routines dereference them directly after
// checking them against the driver's allocation table. Streams are synchronous,
// so every routine has finished when it returns. Everything else JCublas2
// imports is generated as a CUBLAS_STATUS_NOT_SUPPORTED stub by build.sh.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#include "cublas_emu.h"

struct cublasEmuContext {
    cudaStream_t stream = nullptr;
    cublasPointerMode_t pointer_mode = 0;  // CUBLAS_POINTER_MODE_HOST
    cublasMath_t math_mode = 0;            // CUBLAS_DEFAULT_MATH
};

namespace {

constexpr int kVersion = 120001;  // 12.0.1
constexpr int kOpN = 0, kOpT = 1, kOpC = 2;
constexpr int kPointerModeHost = 0, kPointerModeDevice = 1;

std::mutex g_mu;
std::unordered_set<cublasHandle_t>& handles() {
    static auto* set = new std::unordered_set<cublasHandle_t>();
    return *set;
}

cublasStatus_t fail(cublasStatus_t status, const char* fn, const std::string& why) {
    fusedopt_emu_note_failure((std::string(fn) + ": " + why).c_str());
    return status;
}

bool live(cublasHandle_t h) {
    if (h == nullptr) return false;
    std::lock_guard<std::mutex> lock(g_mu);
    return handles().count(h) != 0;
}

// Entry points that take a handle: CUBLAS_EMU_ENTER, then refuse a null or destroyed handle.
#define CUBLAS_ENTER_HANDLE(h)                                                                     \
    CUBLAS_EMU_ENTER()                                                                             \
    if (!live(h)) return fail(CUBLAS_STATUS_NOT_INITIALIZED, __func__, "null or destroyed handle");

// Real operations only: C (conjugate transpose) is T for real types.
bool valid_op(int op) { return op == kOpN || op == kOpT || op == kOpC; }
bool transposed(int op) { return op != kOpN; }

// Bytes spanned by a column-major rows x cols matrix with leading dimension ld.
size_t matrix_bytes(int64_t rows, int64_t cols, int64_t ld, size_t elem) {
    if (rows <= 0 || cols <= 0) return 0;
    return static_cast<size_t>((cols - 1) * ld + rows) * elem;
}

// Bytes spanned by n elements at stride inc (either sign).
size_t vector_bytes(int64_t n, int64_t inc, size_t elem) {
    if (n <= 0) return 0;
    int64_t stride = inc < 0 ? -inc : inc;
    return static_cast<size_t>((n - 1) * stride + 1) * elem;
}

// Index of element i of a BLAS vector: negative increments walk backwards
// from the far end, as in the reference BLAS.
inline int64_t vidx(int64_t i, int64_t n, int64_t inc) { return inc >= 0 ? i * inc : (i - (n - 1)) * inc; }

bool in_device(const void* p, size_t bytes) {
    return bytes == 0 || fusedopt_emu_device_range(reinterpret_cast<uintptr_t>(p), bytes) != 0;
}

// A device operand outside every allocation: on a GPU, an illegal address
// reported by the kernel; here the call fails before touching memory.
cublasStatus_t range_error(const char* fn, const char* what, const void* p, size_t bytes) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s (%p, %zu bytes) is not inside one device allocation", what, p, bytes);
    return fail(CUBLAS_STATUS_EXECUTION_FAILED, fn, buf);
}

#define CHECK_DEVICE(ptr, bytes, what)                                                             \
    do {                                                                                           \
        size_t b_ = (bytes);                                                                       \
        if (!in_device((ptr), b_)) return range_error(__func__, (what), (ptr), b_);                \
    } while (0)

// Reads a scalar argument according to the handle's pointer mode.
cublasStatus_t read_scalar(cublasHandle_t h, const float* p, const char* fn, const char* what, float& out) {
    if (p == nullptr) return fail(CUBLAS_STATUS_INVALID_VALUE, fn, std::string(what) + " is NULL");
    if (h->pointer_mode == kPointerModeDevice && !in_device(p, sizeof(float)))
        return range_error(fn, what, p, sizeof(float));
    out = *p;
    return CUBLAS_STATUS_SUCCESS;
}

// Checks where a scalar result will go (the write itself is a plain store).
cublasStatus_t check_result(cublasHandle_t h, const float* p, const char* fn) {
    if (p == nullptr) return fail(CUBLAS_STATUS_INVALID_VALUE, fn, "result is NULL");
    if (h->pointer_mode == kPointerModeDevice && !in_device(p, sizeof(float)))
        return range_error(fn, "result", p, sizeof(float));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t bad(const char* fn, const char* why) { return fail(CUBLAS_STATUS_INVALID_VALUE, fn, why); }

}  // namespace

#define API CUBLAS_EMU_EXPORT

// ============================ handle, stream, modes ============================

API cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    CUBLAS_EMU_ENTER()
    if (handle == nullptr) return bad(__func__, "handle is NULL");
    auto* h = new cublasEmuContext();
    std::lock_guard<std::mutex> lock(g_mu);
    handles().insert(h);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    CUBLAS_EMU_ENTER()
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (handle != nullptr && handles().erase(handle) == 1) {
            delete handle;
            return CUBLAS_STATUS_SUCCESS;
        }
    }
    return fail(CUBLAS_STATUS_NOT_INITIALIZED, __func__, "null or destroyed handle");
}

API cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int* version) {
    CUBLAS_EMU_ENTER()
    if (version == nullptr) return bad(__func__, "version is NULL");
    *version = kVersion;
    return CUBLAS_STATUS_SUCCESS;
}

namespace {
struct StatusText {
    cublasStatus_t status;
    const char* name;
    const char* text;
};
const StatusText kStatus[] = {
    {0, "CUBLAS_STATUS_SUCCESS", "the operation completed successfully"},
    {1, "CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"},
    {3, "CUBLAS_STATUS_ALLOC_FAILED", "the resource allocation failed"},
    {7, "CUBLAS_STATUS_INVALID_VALUE", "an invalid numeric value was used as an argument"},
    {8, "CUBLAS_STATUS_ARCH_MISMATCH", "an absent device architectural feature is required"},
    {11, "CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"},
    {13, "CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"},
    {14, "CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"},
    {15, "CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"},
    {16, "CUBLAS_STATUS_LICENSE_ERROR", "error detected trying to check the license"},
};
}  // namespace

// These two return const char*, so they must never be NOT_SUPPORTED stubs.
API const char* cublasGetStatusName(cublasStatus_t status) {
    CUBLAS_EMU_ENTER()
    for (const StatusText& s : kStatus)
        if (s.status == status) return s.name;
    return "CUBLAS_STATUS_UNKNOWN";
}

API const char* cublasGetStatusString(cublasStatus_t status) {
    CUBLAS_EMU_ENTER()
    for (const StatusText& s : kStatus)
        if (s.status == status) return s.text;
    return "unknown error";
}

API cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    CUBLAS_ENTER_HANDLE(handle)
    handle->stream = stream;  // streams are synchronous in the stand-in
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
    CUBLAS_ENTER_HANDLE(handle)
    if (stream == nullptr) return bad(__func__, "stream is NULL");
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
    CUBLAS_ENTER_HANDLE(handle)
    if (mode != kPointerModeHost && mode != kPointerModeDevice) return bad(__func__, "unknown pointer mode");
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
    CUBLAS_ENTER_HANDLE(handle)
    if (mode == nullptr) return bad(__func__, "mode is NULL");
    *mode = handle->pointer_mode;
    return CUBLAS_STATUS_SUCCESS;
}

// Modes 0..3 (DEFAULT, TENSOR_OP, PEDANTIC, TF32_TENSOR_OP), optionally with
// CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION (16). Stored only: the
// host arithmetic is plain float whatever the mode.
API cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    CUBLAS_ENTER_HANDLE(handle)
    if ((mode & ~16) < 0 || (mode & ~16) > 3) return bad(__func__, "unknown math mode");
    handle->math_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
    CUBLAS_ENTER_HANDLE(handle)
    if (mode == nullptr) return bad(__func__, "mode is NULL");
    *mode = handle->math_mode;
    return CUBLAS_STATUS_SUCCESS;
}

// ============================ level 1 ============================

// y = alpha * x + y
API cublasStatus_t cublasSaxpy_v2(cublasHandle_t handle, int n, const float* alpha, const float* x, int incx,
                                  float* y, int incy) {
    CUBLAS_ENTER_HANDLE(handle)
    float a;
    if (cublasStatus_t s = read_scalar(handle, alpha, __func__, "alpha", a)) return s;
    if (n <= 0) return CUBLAS_STATUS_SUCCESS;
    CHECK_DEVICE(x, vector_bytes(n, incx, 4), "x");
    CHECK_DEVICE(y, vector_bytes(n, incy, 4), "y");
    if (a == 0.0f) return CUBLAS_STATUS_SUCCESS;
    for (int64_t i = 0; i < n; i++) {
        float& yi = y[vidx(i, n, incy)];
        yi = a * x[vidx(i, n, incx)] + yi;
    }
    return CUBLAS_STATUS_SUCCESS;
}

// x = alpha * x; nothing for n <= 0 or incx <= 0 (as in the reference BLAS).
API cublasStatus_t cublasSscal_v2(cublasHandle_t handle, int n, const float* alpha, float* x, int incx) {
    CUBLAS_ENTER_HANDLE(handle)
    float a;
    if (cublasStatus_t s = read_scalar(handle, alpha, __func__, "alpha", a)) return s;
    if (n <= 0 || incx <= 0) return CUBLAS_STATUS_SUCCESS;
    CHECK_DEVICE(x, vector_bytes(n, incx, 4), "x");
    for (int64_t i = 0; i < n; i++) x[i * incx] = a * x[i * incx];
    return CUBLAS_STATUS_SUCCESS;
}

// y = x
API cublasStatus_t cublasScopy_v2(cublasHandle_t handle, int n, const float* x, int incx, float* y, int incy) {
    CUBLAS_ENTER_HANDLE(handle)
    if (n <= 0) return CUBLAS_STATUS_SUCCESS;
    CHECK_DEVICE(x, vector_bytes(n, incx, 4), "x");
    CHECK_DEVICE(y, vector_bytes(n, incy, 4), "y");
    for (int64_t i = 0; i < n; i++) y[vidx(i, n, incy)] = x[vidx(i, n, incx)];
    return CUBLAS_STATUS_SUCCESS;
}

// result = sum x[i] * y[i], accumulated in float from i = 0 up (cuBLAS's own
// order is unspecified); 0 for n <= 0.
API cublasStatus_t cublasSdot_v2(cublasHandle_t handle, int n, const float* x, int incx, const float* y, int incy,
                                 float* result) {
    CUBLAS_ENTER_HANDLE(handle)
    if (cublasStatus_t s = check_result(handle, result, __func__)) return s;
    float sum = 0.0f;
    if (n > 0) {
        CHECK_DEVICE(x, vector_bytes(n, incx, 4), "x");
        CHECK_DEVICE(y, vector_bytes(n, incy, 4), "y");
        for (int64_t i = 0; i < n; i++) sum += x[vidx(i, n, incx)] * y[vidx(i, n, incy)];
    }
    *result = sum;
    return CUBLAS_STATUS_SUCCESS;
}

// result = sqrt(sum x[i]^2), computed in double (no overflow for any float
// input) and rounded once; 0 for n <= 0 or incx <= 0.
API cublasStatus_t cublasSnrm2_v2(cublasHandle_t handle, int n, const float* x, int incx, float* result) {
    CUBLAS_ENTER_HANDLE(handle)
    if (cublasStatus_t s = check_result(handle, result, __func__)) return s;
    double sum = 0.0;
    if (n > 0 && incx > 0) {
        CHECK_DEVICE(x, vector_bytes(n, incx, 4), "x");
        for (int64_t i = 0; i < n; i++) {
            double v = x[i * incx];
            sum += v * v;
        }
    }
    *result = static_cast<float>(std::sqrt(sum));
    return CUBLAS_STATUS_SUCCESS;
}

// ============================ level 3 ============================

// C = alpha * op(A) op(B) + beta * C, op(A) m x k, op(B) k x n, C m x n.
// As in the reference BLAS: beta == 0 never reads C; alpha == 0 or k == 0
// reads neither A nor B and only scales C (beta == 1: C untouched).
// Each element's sum runs over l = 0 .. k-1 in float, then
// c = alpha * sum (+ beta * c).
API cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                  int n, int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                                  const float* beta, float* C, int ldc) {
    CUBLAS_ENTER_HANDLE(handle)
    if (!valid_op(transa) || !valid_op(transb)) return bad(__func__, "invalid transa or transb");
    if (m < 0 || n < 0 || k < 0) return bad(__func__, "m, n or k is negative");
    const bool ta = transposed(transa), tb = transposed(transb);
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (lda < std::max<int64_t>(1, a_rows)) return bad(__func__, "lda < max(1, rows of A)");
    if (ldb < std::max<int64_t>(1, b_rows)) return bad(__func__, "ldb < max(1, rows of B)");
    if (ldc < std::max(1, m)) return bad(__func__, "ldc < max(1, m)");
    float a, b;
    if (cublasStatus_t s = read_scalar(handle, alpha, __func__, "alpha", a)) return s;
    if (cublasStatus_t s = read_scalar(handle, beta, __func__, "beta", b)) return s;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const bool product = a != 0.0f && k > 0;
    if (product) {
        CHECK_DEVICE(A, matrix_bytes(a_rows, a_cols, lda, 4), "A");
        CHECK_DEVICE(B, matrix_bytes(b_rows, b_cols, ldb, 4), "B");
    }
    CHECK_DEVICE(C, matrix_bytes(m, n, ldc, 4), "C");
    if (!product && b == 1.0f) return CUBLAS_STATUS_SUCCESS;
    for (int64_t j = 0; j < n; j++) {
        float* c = C + j * ldc;
        for (int64_t i = 0; i < m; i++) {
            float v = 0.0f;
            if (product) {
                float sum = 0.0f;
                for (int64_t l = 0; l < k; l++) {
                    float x = ta ? A[l + i * lda] : A[i + l * lda];
                    float y = tb ? B[j + l * ldb] : B[l + j * ldb];
                    sum += x * y;
                }
                v = a * sum;
            }
            if (b != 0.0f) v = product ? v + b * c[i] : b * c[i];
            c[i] = v;
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}

// C = alpha * op(A) + beta * op(B), all m x n after op. alpha == 0 does not
// read A, beta == 0 does not read B. In place only as cuBLAS allows it:
// C == A needs transa == N and lda == ldc (same for B).
API cublasStatus_t cublasSgeam(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                               const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb,
                               float* C, int ldc) {
    CUBLAS_ENTER_HANDLE(handle)
    if (!valid_op(transa) || !valid_op(transb)) return bad(__func__, "invalid transa or transb");
    if (m < 0 || n < 0) return bad(__func__, "m or n is negative");
    const bool ta = transposed(transa), tb = transposed(transb);
    const int64_t a_rows = ta ? n : m, b_rows = tb ? n : m;
    if (lda < std::max<int64_t>(1, a_rows)) return bad(__func__, "lda < max(1, rows of A)");
    if (ldb < std::max<int64_t>(1, b_rows)) return bad(__func__, "ldb < max(1, rows of B)");
    if (ldc < std::max(1, m)) return bad(__func__, "ldc < max(1, m)");
    if (C == A && (ta || lda != ldc)) return bad(__func__, "in place (C == A) needs transa == N and lda == ldc");
    if (C == B && (tb || ldb != ldc)) return bad(__func__, "in place (C == B) needs transb == N and ldb == ldc");
    float a, b;
    if (cublasStatus_t s = read_scalar(handle, alpha, __func__, "alpha", a)) return s;
    if (cublasStatus_t s = read_scalar(handle, beta, __func__, "beta", b)) return s;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (a != 0.0f) CHECK_DEVICE(A, matrix_bytes(a_rows, ta ? m : n, lda, 4), "A");
    if (b != 0.0f) CHECK_DEVICE(B, matrix_bytes(b_rows, tb ? m : n, ldb, 4), "B");
    CHECK_DEVICE(C, matrix_bytes(m, n, ldc, 4), "C");
    for (int64_t j = 0; j < n; j++) {
        for (int64_t i = 0; i < m; i++) {
            float v;
            if (a == 0.0f && b == 0.0f) {
                v = 0.0f;
            } else if (b == 0.0f) {
                v = a * (ta ? A[j + i * lda] : A[i + j * lda]);
            } else if (a == 0.0f) {
                v = b * (tb ? B[j + i * ldb] : B[i + j * ldb]);
            } else {
                v = a * (ta ? A[j + i * lda] : A[i + j * lda]) + b * (tb ? B[j + i * ldb] : B[i + j * ldb]);
            }
            C[i + j * ldc] = v;
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}
