// JNI bridge between io.fusedopt.emu.StandIn (test code) and the stand-in's
// control functions. The library depends on "libcuda.so.1" by soname only
// (no RUNPATH), so it binds to whichever driver the process resolves, exactly
// as JCuda does; every control function is then looked up with dlsym, and a
// missing one means the process is using a real driver: the bridge reports
// itself inactive rather than calling into nothing.
#include <dlfcn.h>
#include <jni.h>

#include <climits>
#include <string>

namespace {

// The control functions of the stand-in (driver_control.cpp), without their fusedopt_emu_ prefix.
#define CONTROL_FUNCTIONS(X)                                                                       \
    X(int, abi_version, ())                                                                        \
    X(void, reset_counters, ())                                                                    \
    X(unsigned long long, count, (const char*))                                                    \
    X(unsigned long long, count_category, (const char*))                                           \
    X(unsigned long long, live_allocations, ())                                                    \
    X(unsigned long long, live_bytes, ())                                                          \
    X(unsigned long long, live_host_allocations, ())                                               \
    X(int, fail_nth, (const char*, int, int))                                                      \
    X(void, clear_faults, ())                                                                      \
    X(size_t, last_error, (char*, size_t))                                                         \
    X(void, forget_init, ())                                                                       \
    X(void, override_module, (const char*))

struct Api {
#define SLOT(ret, name, args) ret(*name) args = nullptr;
    CONTROL_FUNCTIONS(SLOT)
#undef SLOT
};

Api api;
bool active = false;

void resolve() {
    void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (h == nullptr) return;
    bool ok = true;
#define BIND(ret, name, args) \
    ok = ok && (api.name = reinterpret_cast<ret(*) args>(dlsym(h, "fusedopt_emu_" #name))) != nullptr;
    CONTROL_FUNCTIONS(BIND)
#undef BIND
    active = ok && api.abi_version() == 1;
}

std::string utf(JNIEnv* env, jstring s) {
    if (s == nullptr) return std::string();
    const char* c = env->GetStringUTFChars(s, nullptr);
    std::string out = c ? c : "";
    if (c) env->ReleaseStringUTFChars(s, c);
    return out;
}

}  // namespace

extern "C" {

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM*, void*) {
    resolve();
    return JNI_VERSION_1_8;
}

JNIEXPORT jboolean JNICALL Java_io_fusedopt_emu_StandIn_nativeActive(JNIEnv*, jclass) {
    return active ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_io_fusedopt_emu_StandIn_nativeResetCounters(JNIEnv*, jclass) {
    if (active) api.reset_counters();
}

JNIEXPORT jlong JNICALL Java_io_fusedopt_emu_StandIn_nativeCount(JNIEnv* env, jclass, jstring name) {
    return active ? static_cast<jlong>(api.count(utf(env, name).c_str())) : 0;
}

JNIEXPORT jlong JNICALL Java_io_fusedopt_emu_StandIn_nativeCountCategory(JNIEnv* env, jclass, jstring name) {
    if (!active) return 0;
    unsigned long long v = api.count_category(utf(env, name).c_str());
    return v == ULLONG_MAX ? -1 : static_cast<jlong>(v);
}

JNIEXPORT jlong JNICALL Java_io_fusedopt_emu_StandIn_nativeLiveAllocations(JNIEnv*, jclass) {
    return active ? static_cast<jlong>(api.live_allocations()) : 0;
}

JNIEXPORT jlong JNICALL Java_io_fusedopt_emu_StandIn_nativeLiveBytes(JNIEnv*, jclass) {
    return active ? static_cast<jlong>(api.live_bytes()) : 0;
}

JNIEXPORT jlong JNICALL Java_io_fusedopt_emu_StandIn_nativeLiveHostAllocations(JNIEnv*, jclass) {
    return active ? static_cast<jlong>(api.live_host_allocations()) : 0;
}

JNIEXPORT jint JNICALL Java_io_fusedopt_emu_StandIn_nativeFailNth(JNIEnv* env, jclass, jstring category, jint n,
                                                                  jint code) {
    return active ? api.fail_nth(utf(env, category).c_str(), n, code) : -3;
}

JNIEXPORT void JNICALL Java_io_fusedopt_emu_StandIn_nativeClearFaults(JNIEnv*, jclass) {
    if (active) api.clear_faults();
}

JNIEXPORT jstring JNICALL Java_io_fusedopt_emu_StandIn_nativeLastError(JNIEnv* env, jclass) {
    if (!active) return env->NewStringUTF("");
    size_t n = api.last_error(nullptr, 0);
    std::string buf(n + 1, '\0');
    api.last_error(&buf[0], buf.size());
    buf.resize(n);
    return env->NewStringUTF(buf.c_str());
}

JNIEXPORT void JNICALL Java_io_fusedopt_emu_StandIn_nativeForgetInit(JNIEnv*, jclass) {
    if (active) api.forget_init();
}

JNIEXPORT void JNICALL Java_io_fusedopt_emu_StandIn_nativeOverrideModule(JNIEnv* env, jclass, jstring ptx) {
    if (active) api.override_module(ptx == nullptr ? nullptr : utf(env, ptx).c_str());
}

}  // extern "C"
