// Finds the host-compiled kernel libraries. They live next to the stand-in
// (kernels/ for the project's cuda/*.cu, test/ for the stand-in's own test
// kernels), so pointing LD_LIBRARY_PATH at one directory is all it takes.
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "emu_internal.h"

namespace emu {
namespace {

std::mutex g_mu;
std::vector<KernelLib*> g_libs;
std::vector<std::string> g_dirs;
bool g_dirs_known = false;

std::string own_directory() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) return ".";
    char resolved[PATH_MAX];
    std::string path = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

void compute_dirs() {
    if (g_dirs_known) return;
    g_dirs_known = true;
    if (const char* extra = std::getenv("FUSEDOPT_EMU_KERNEL_PATH")) {
        std::string list = extra;
        size_t start = 0;
        while (start <= list.size()) {
            size_t colon = list.find(':', start);
            std::string d = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
            if (!d.empty()) g_dirs.push_back(d);
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
    }
    std::string own = own_directory();
    g_dirs.push_back(own + "/kernels");
    g_dirs.push_back(own + "/test");
}

// Opens libraries that appeared since the last scan; cheap enough to repeat
// whenever a symbol is missing.
void scan_locked() {
    compute_dirs();
    for (const std::string& dir : g_dirs) {
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) continue;
        std::vector<std::string> names;
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > 3 && n.compare(n.size() - 3, 3, ".so") == 0) names.push_back(n);
        }
        closedir(d);
        std::sort(names.begin(), names.end());
        for (const std::string& n : names) {
            std::string path = dir + "/" + n;
            bool known = false;
            for (KernelLib* lib : g_libs) known = known || lib->path == path;
            if (known) continue;
            void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (h == nullptr) {
                const char* err = dlerror();
                note_failure("cannot load kernel library " + path + ": " + (err ? err : "?"));
                continue;
            }
            KernelLib* lib = new KernelLib();
            lib->path = path;
            lib->handle = h;
            link_map* lm = nullptr;
            if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0) lib->base = lm;
            lib->dynamic_smem_base = reinterpret_cast<void* (*)()>(dlsym(h, "fusedopt_emu_dynamic_smem_base"));
            if (auto* cap = static_cast<const size_t*>(dlsym(h, "fusedopt_emu_dynamic_smem_capacity")))
                lib->dynamic_smem_capacity = *cap;
            g_libs.push_back(lib);
        }
    }
}

bool lookup_locked(const std::string& name, HostSymbol& out) {
    for (KernelLib* lib : g_libs) {
        void* s = dlsym(lib->handle, name.c_str());
        if (s == nullptr) continue;
        // dlsym also searches the library's dependencies (libc, libm, the
        // stand-in itself); only a definition inside the kernel library counts.
        Dl_info info;
        void* extra = nullptr;
        if (dladdr1(s, &info, &extra, RTLD_DL_LINKMAP) == 0 || extra != lib->base) continue;
        ElfW(Sym)* sym = nullptr;
        out.address = s;
        out.size = 0;
        if (dladdr1(s, &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) != 0 && sym != nullptr)
            out.size = sym->st_size;
        out.lib = lib;
        return true;
    }
    return false;
}

}  // namespace

bool find_host_symbol(const std::string& name, HostSymbol& out) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_libs.empty()) scan_locked();
    if (lookup_locked(name, out)) return true;
    scan_locked();
    return lookup_locked(name, out);
}

std::string kernel_search_description() {
    std::lock_guard<std::mutex> lock(g_mu);
    compute_dirs();
    std::string s;
    for (const std::string& d : g_dirs) s += (s.empty() ? "" : ", ") + d + "/*.so";
    return s;
}

}  // namespace emu
