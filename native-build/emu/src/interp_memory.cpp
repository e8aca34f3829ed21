// Global and shared memory accesses of the interpreter and their checks (bounds, freed
// memory, alignment, shared-memory races and uninitialised reads): ld, st, atom and red.
#include "interp_internal.h"

namespace emu {

namespace {
// Atomics of blocks running on different worker threads take turns under this lock.
std::mutex g_atomic_mu;
}  // namespace

// ---- memory ----------------------------------------------------------------------------------------
// Where a global access of n bytes at a lands; null when it is not inside one live allocation.
const MemRange* Launch::find(uintptr_t a, size_t n) {
    if (last_ != nullptr && a >= last_->lo && a + n <= last_->hi && !last_->freed) return last_;
    auto it = std::upper_bound(mem_.begin(), mem_.end(), a, [](uintptr_t v, const MemRange& r) { return v < r.lo; });
    if (it == mem_.begin()) return nullptr;
    --it;
    if (a + n <= it->hi && !it->freed) { last_ = &*it; return last_; }
    return nullptr;
}

std::string Launch::describe_global(uintptr_t a, size_t n) {
    auto it = std::upper_bound(mem_.begin(), mem_.end(), a, [](uintptr_t v, const MemRange& r) { return v < r.lo; });
    char buf[256];
    if (it != mem_.begin()) {
        --it;
        if (a < it->hi && it->freed) {
            std::snprintf(buf, sizeof buf, "use after free: 0x%llx is %llu bytes into a %llu-byte allocation at 0x%llx "
                          "that was freed", (unsigned long long)a, (unsigned long long)(a - it->lo),
                          (unsigned long long)(it->hi - it->lo), (unsigned long long)it->lo);
            return buf;
        }
        if (!it->freed) {
            std::snprintf(buf, sizeof buf, "out of bounds: [0x%llx, +%zu) ends %llu bytes past the end of the "
                          "%llu-byte allocation at 0x%llx", (unsigned long long)a, n,
                          (unsigned long long)(a + n - it->hi), (unsigned long long)(it->hi - it->lo),
                          (unsigned long long)it->lo);
            return buf;
        }
    }
    std::snprintf(buf, sizeof buf, "out of bounds: 0x%llx is not inside any live device allocation",
                  (unsigned long long)a);
    return buf;
}

// Resolves the memory of one lane's access: host pointer, or null after reporting.
uint8_t* Launch::locate(const Insn& in, int l, uint64_t a, size_t n, bool store, uint8_t space, CUresult& err,
                bool& is_shared) {
    const char* kind = store ? "store" : "load";
    is_shared = false;
    if ((a & (n - 1)) != 0 && space != S_PARAM) {  // n is a power of two
        char buf[160];
        std::snprintf(buf, sizeof buf, "misaligned %zu-byte %s at 0x%llx", n, kind, (unsigned long long)a);
        err = report(E_MISALIGNED_ADDRESS, in, l, buf);
        return nullptr;
    }
    if (space == S_PARAM) {
        if (store || a + n > params_.size()) { err = report(E_ILLEGAL_ADDRESS, in, l, "parameter access out of range"); return nullptr; }
        return params_.data() + a;
    }
    if (space == S_GENERIC && a >= kSharedWindow && a < kSharedWindow + kSharedWindowSize) {
        a -= kSharedWindow;
        space = S_SHARED;
    }
    if (space == S_SHARED) {
        if (a >= kSharedWindow) a -= kSharedWindow;
        if (a + n > shared_size_) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "shared-memory %s of %zu bytes at offset %llu is out of bounds (the block "
                          "has %zu bytes of shared memory)", kind, n, (unsigned long long)a, shared_size_);
            err = report(E_ILLEGAL_ADDRESS, in, l, buf);
            return nullptr;
        }
        is_shared = true;
        return shared_ + a;
    }
    if (find(a, n) == nullptr) {
        err = report(E_ILLEGAL_ADDRESS, in, l, std::string("global ") + kind + " of " + std::to_string(n) +
                                                  " bytes: " + describe_global(a, n));
        return nullptr;
    }
    return reinterpret_cast<uint8_t*>(a);
}

// Race and initialisation checks of one lane's shared access of n bytes at offset off.
CUresult Launch::check_shared(const Insn& in, int l, size_t off, size_t n, bool store, bool atomic) {
    uint16_t tid = static_cast<uint16_t>(w_ * 32 + l);
    uint16_t wep = warps_[w_].wep;
    auto ordered = [&](uint16_t other, uint16_t other_wep) {
        return other == tid || (other / 32 == tid / 32 && other_wep != wep);
    };
    for (size_t k = 0; k < n; k++) {
        Shadow& s = shadow_[off + k];
        bool mine = s.w_epoch >= block_epoch_;  // stamps of earlier blocks do not count
        if (!store || atomic) {
            if (s.init_epoch < block_epoch_ || s.init_epoch == 0)
                return report(E_LAUNCH_FAILED, in, l, "read of uninitialised shared memory at offset " +
                                                         std::to_string(off + k) + " (never written in this block)");
            if (mine && s.w_epoch == epoch_ && !ordered(s.w_tid, s.w_wep) && !atomic)
                return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                         " read after thread " + std::to_string(s.w_tid) +
                                                         " wrote it with no barrier in between");
            if (s.r_epoch == epoch_ && s.r_tid != tid) s.r_multi = 1;
            else if (s.r_epoch != epoch_) s.r_multi = 0;
            s.r_tid = tid;
            s.r_epoch = epoch_;
            s.r_wep = wep;
        }
        if (store) {
            if (!atomic && mine && s.w_epoch == epoch_ && !ordered(s.w_tid, s.w_wep))
                return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                         " written by thread " + std::to_string(s.w_tid) +
                                                         " and this thread with no barrier in between");
            if (!atomic && s.r_epoch == epoch_ && s.r_epoch >= block_epoch_ &&
                (s.r_multi || !ordered(s.r_tid, s.r_wep)))
                return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                         " written after thread " + std::to_string(s.r_tid) +
                                                         " read it with no barrier in between");
            s.w_epoch = epoch_;
            s.w_tid = tid;
            s.w_wep = wep;
            s.init_epoch = epoch_;
        }
    }
    return OK;
}

CUresult Launch::memory(const Insn& in, uint32_t em) {
    const bool store = in.op == OP_ST;
    const Operand& addr = store ? in.o[0] : in.o[1];
    const Operand& data = store ? in.o[1] : in.o[0];
    const int eb = ty_bytes(in.t);
    const size_t n = static_cast<size_t>(eb) * in.vec;
    const bool sgn = ty_signed(in.t);
    const bool global = in.space == S_GLOBAL || in.space == S_CONST;
    LANES(em) {
        uint64_t a = (addr.reg >= 0 ? R_[addr.reg * 32 + l] : 0) + addr.imm;
        uint8_t* p;
        // The common case first: an aligned global access inside the allocation the last one hit.
        if (global && last_ != nullptr && a >= last_->lo && a + n <= last_->hi && (a & (n - 1)) == 0) {
            p = reinterpret_cast<uint8_t*>(a);
        } else {
            CUresult err = OK;
            bool is_shared = false;
            p = locate(in, l, a, n, store, in.space, err, is_shared);
            if (p == nullptr) return err;
            if (is_shared) {
                if (CUresult r = check_shared(in, l, static_cast<size_t>(p - shared_), n, store, false)) return r;
            }
        }
        for (int k = 0; k < in.vec; k++) {
            uint8_t* q = p + k * eb;
            if (store) {
                uint64_t v = data.kind == K_VEC ? vec_elem(data, k, l) : raw(data, l);
                store_n(q, eb, v);
            } else {
                uint64_t v = load_n(q, eb);
                if (sgn) v = static_cast<uint64_t>(sext(v, eb));
                if (data.kind == K_VEC) { if (vec(data).slot[k] >= 0) R_[vec(data).slot[k] * 32 + l] = v; }
                else put(data, l, v);
            }
        }
    }
    return OK;
}

CUresult Launch::atomic(const Insn& in, uint32_t em) {
    const bool nodest = (in.flags & F_NODEST) != 0;
    const Operand& addr = nodest ? in.o[0] : in.o[1];
    const Operand& bop = nodest ? in.o[1] : in.o[2];
    const int nb = ty_bytes(in.t);
    const uint64_t msk = mask_of(nb);
    const bool sgn = ty_signed(in.t);
    // Lanes take their turns in lane order: one of the orders a GPU may choose.
    std::unique_lock<std::mutex> lock(g_atomic_mu, std::defer_lock);
    if (in.space != S_SHARED) lock.lock();
    LANES(em) {
        uint64_t a = (addr.reg >= 0 ? R_[addr.reg * 32 + l] : 0) + addr.imm;
        CUresult err = OK;
        bool is_shared = false;
        uint8_t* p = locate(in, l, a, static_cast<size_t>(nb), true, in.space, err, is_shared);
        if (p == nullptr) return err;
        if (is_shared) {
            if (CUresult r = check_shared(in, l, static_cast<size_t>(p - shared_), static_cast<size_t>(nb), true, true)) return r;
        }
        uint64_t old = load_n(p, nb);
        uint64_t b = raw(bop, l) & msk, r = old;
        switch (in.sub) {
            case X_ADD:
                if (in.t == Ty::f32) r = fres32(as_f32(old) + as_f32(b));
                else if (in.t == Ty::f64) r = fres64(as_f64(old) + as_f64(b));
                else r = (old + b) & msk;
                break;
            case X_MIN: case X_MAX: {
                bool less;
                if (in.t == Ty::f32) less = as_f32(b) < as_f32(old);
                else if (in.t == Ty::f64) less = as_f64(b) < as_f64(old);
                else less = sgn ? sext(b, nb) < sext(old, nb) : b < old;
                bool greater;
                if (in.t == Ty::f32) greater = as_f32(b) > as_f32(old);
                else if (in.t == Ty::f64) greater = as_f64(b) > as_f64(old);
                else greater = sgn ? sext(b, nb) > sext(old, nb) : b > old;
                r = (in.sub == X_MIN ? less : greater) ? b : old;
                break;
            }
            case X_INC: r = old >= b ? 0 : old + 1; break;
            case X_DEC: r = (old == 0 || old > b) ? b : old - 1; break;
            case X_AND: r = old & b; break;
            case X_OR: r = old | b; break;
            case X_XOR: r = old ^ b; break;
            case X_EXCH: r = b; break;
            case X_CAS: r = old == b ? raw(in.o[3], l) & msk : old; break;
            default: return report(E_ILLEGAL_INSTRUCTION, in, l, "unsupported atomic operation");
        }
        store_n(p, nb, r);
        if (!nodest) put(in.o[0], l, sgn ? static_cast<uint64_t>(sext(old, nb)) : old);
    }
    return OK;
}

}  // namespace emu
