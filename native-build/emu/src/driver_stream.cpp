// The driver API of the fusedopt CPU stand-in for libcuda.so.1: streams and events, both
// synchronous (every stream operation has completed when its call returns, unless a stream capture
// records it: driver_graph.cpp).
#include <chrono>

#include "driver_internal.h"

using namespace emu;


// ============================== streams and events ==============================

static CUresult new_stream(CUstream* out, unsigned flags, int priority) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null stream pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* s = new Stream{c, flags, priority};
    g_streams.insert(s);
    *out = s;
    return OK;
}

API CUresult cuStreamCreate(CUstream* out, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    return new_stream(out, flags, 0);
}

static Stream* real_stream(CUstream s) {
    if (s == nullptr || s == reinterpret_cast<void*>(1) || s == reinterpret_cast<void*>(2)) return nullptr;
    return static_cast<Stream*>(s);
}

API CUresult cuStreamDestroy_v2(CUstream s) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Stream* st = real_stream(s);
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (st == nullptr || g_streams.count(st) == 0 || !st->live) return fail(E_INVALID_HANDLE, "cuStreamDestroy: invalid stream");
    capture_stream_destroyed(st);
    st->live = false;
    return OK;
}

API CUresult cuStreamSynchronize(CUstream s) {
    EMU_ENTER(CAT_SYNC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    return capture_sync_stream(s, "cuStreamSynchronize");
}

API CUresult cuStreamQuery(CUstream s) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    return capture_sync_stream(s, "cuStreamQuery");
}

API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* ev = static_cast<Event*>(e);
    if (ev == nullptr || g_events.count(ev) == 0 || !ev->live) return fail(E_INVALID_HANDLE, "cuStreamWaitEvent: invalid event");
    return capture_wait_event(s, ev, "cuStreamWaitEvent");
}

API CUresult cuStreamGetFlags(CUstream s, unsigned int* flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    if (flags == nullptr) return fail(E_INVALID_VALUE, "null pointer");
    Stream* st = real_stream(s);
    *flags = st ? st->flags : 0;
    return OK;
}

API CUresult cuStreamGetCtx(CUstream s, CUcontext* out) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null pointer");
    Stream* st = real_stream(s);
    *out = st ? st->ctx : c;
    return OK;
}

static Event* live_event(CUevent e) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* ev = static_cast<Event*>(e);
    return (ev != nullptr && g_events.count(ev) != 0 && ev->live) ? ev : nullptr;
}

API CUresult cuEventCreate(CUevent* out, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null event pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* e = new Event{c, flags, true, false, {}};
    g_events.insert(e);
    *out = e;
    return OK;
}

API CUresult cuEventDestroy_v2(CUevent e) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventDestroy: invalid event");
    ev->live = false;
    return OK;
}

static CUresult record_event(CUevent e, CUstream s) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventRecord: invalid event");
    Capture* cap;
    if (CUresult r = capture_of(s, c, "cuEventRecord", cap)) return r;
    if (cap != nullptr) return capture_record_event(ev, s, "cuEventRecord");
    ev->capture = nullptr;
    ev->recorded = true;
    ev->when = std::chrono::steady_clock::now();
    return OK;
}

API CUresult cuEventRecord(CUevent e, CUstream s) {
    EMU_ENTER(CAT_NONE)
    return record_event(e, s);
}

API CUresult cuEventQuery(CUevent e) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventQuery: invalid event");
    return capture_sync_event(ev, "cuEventQuery");
}

API CUresult cuEventSynchronize(CUevent e) {
    EMU_ENTER(CAT_SYNC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventSynchronize: invalid event");
    return capture_sync_event(ev, "cuEventSynchronize");
}

API CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* a = live_event(start);
    Event* b = live_event(end);
    if (ms == nullptr) return fail(E_INVALID_VALUE, "cuEventElapsedTime: null pointer");
    if (a == nullptr || b == nullptr || (a->flags & 2u) || (b->flags & 2u) || !a->recorded || !b->recorded)
        return fail(E_INVALID_HANDLE, "cuEventElapsedTime: events must be timing-enabled and recorded");
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return OK;
}
