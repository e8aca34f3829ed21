// The driver API of the fusedopt CPU stand-in for libcuda.so.1: streams and events, both
// synchronous (every stream operation has completed when its call returns), stream capture and
// CUDA graphs. A capturing stream records its work as nodes instead of running it: each node is
// the operation the stream would have run (driver_internal.h, StreamOp), so a kernel node keeps a
// copy of the launch's parameter values (later changes to the caller's argument buffers do not reach
// it), copy and memset nodes keep their addresses (a replay reads the host and device memory as it is
// then). Streams join a capture by waiting on an event recorded in it, and must be joined back before
// it ends. Graphs run their nodes in capture order, which respects every dependency.
// What capture forbids fails with the driver's codes and, as the driver does, invalidates the capture.
#include <algorithm>
#include <thread>

#include "driver_internal.h"

namespace emu {

struct Node {
    std::vector<size_t> deps;  // indices of earlier nodes of the same capture
    Function* fn;              // the kernel of a launch node, else null
    StreamOp op;
};

struct Capture {
    Context* ctx;
    Stream* origin;
    int mode;  // CU_STREAM_CAPTURE_MODE_GLOBAL 0, THREAD_LOCAL 1, RELAXED 2
    std::thread::id thread;
    bool active = true, invalidated = false;
    std::string why;
    std::vector<Node> nodes;
    std::vector<Stream*> streams;  // the origin and every stream that joined
};

struct Graph {
    Context* ctx;
    std::vector<Node> nodes;
    bool live = true;
};

namespace {
std::unordered_set<Capture*> g_captures;  // active ones; ended captures stay allocated (events name them)
std::unordered_set<Graph*> g_graphs, g_execs;
thread_local int t_capture_mode = 0;

void end_capture(Capture* cap) {
    cap->active = false;
    g_captures.erase(cap);
    for (Stream* st : cap->streams) {
        st->capture = nullptr;
        st->deps.clear();
    }
}

// The active captures, less those whose stream went with its context.
std::vector<Capture*> captures() {
    std::vector<Capture*> dead, out;
    for (Capture* cap : g_captures) (cap->origin->live ? out : dead).push_back(cap);
    for (Capture* cap : dead) end_capture(cap);
    return out;
}

CUresult invalidate(Capture* cap, CUresult code, const std::string& msg) {
    if (!cap->invalidated) {
        cap->invalidated = true;
        cap->why = msg;
    }
    return fail(code, msg + " (the stream capture is invalidated)");
}

// Whether the capture records a blocking stream of the context: the legacy stream would depend on it.
bool blocking(const Capture* cap, Context* ctx) {
    return cap->ctx == ctx &&
           std::any_of(cap->streams.begin(), cap->streams.end(), [](Stream* st) { return (st->flags & 1u) == 0; });
}

// Work on the legacy stream would wait for every blocking stream of the context, and so for the
// capture of any that is capturing.
CUresult capture_legacy(Context* ctx, const char* what) {
    CUresult r = OK;
    for (Capture* cap : captures())
        if (blocking(cap, ctx))
            r = invalidate(cap, E_CAPTURE_IMPLICIT, std::string(what) + ": the legacy stream would depend on a capturing blocking stream");
    return r;
}

// The capture that work on stream s records into (null: run it now), or why the work is refused.
CUresult capture_of(void* s, Context* ctx, const char* what, Capture*& cap) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    cap = nullptr;
    if (CUresult r = check_stream(s)) return r;
    if (legacy(s)) return capture_legacy(ctx, what);
    cap = stream_of(s) != nullptr ? stream_of(s)->capture : nullptr;
    if (cap != nullptr && cap->invalidated)
        return fail(E_CAPTURE_INVALIDATED, std::string(what) + ": the stream's capture was invalidated earlier: " + cap->why);
    return OK;
}

void append(Stream* st, Node&& node) {
    Capture* cap = st->capture;
    node.deps = st->deps;
    cap->nodes.push_back(std::move(node));
    st->deps.assign(1, cap->nodes.size() - 1);
}

// Whether every node is an ancestor of (or is) a node the origin stream's next work would depend on.
bool joined(const Capture& cap) {
    std::vector<bool> reached(cap.nodes.size(), false);
    std::vector<size_t> todo = cap.origin->deps;
    while (!todo.empty()) {
        size_t i = todo.back();
        todo.pop_back();
        if (reached[i]) continue;
        reached[i] = true;
        todo.insert(todo.end(), cap.nodes[i].deps.begin(), cap.nodes[i].deps.end());
    }
    return std::find(reached.begin(), reached.end(), false) == reached.end();
}

// Synchronising a stream: refused while it captures.
CUresult capture_sync_stream(void* s, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (legacy(s)) return capture_legacy(current_context(), what);
    Stream* st = stream_of(s);
    if (st == nullptr || st->capture == nullptr) return OK;
    return invalidate(st->capture, E_CAPTURE_UNSUPPORTED, std::string(what) + ": the stream is capturing");
}

// Querying or synchronising an event: refused when it was last recorded in a capture, else potentially unsafe.
CUresult capture_sync_event(Context* c, Event* ev, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (ev->capture != nullptr) {
        std::string msg = std::string(what) + ": the event was last recorded in a capturing stream";
        if (ev->capture->active) return invalidate(ev->capture, E_CAPTURED_EVENT, msg);
        return fail(E_CAPTURED_EVENT, msg);
    }
    return capture_unsafe(c, what, false);
}

// Graphs and their executable copies: cuGraphDestroy and cuGraphExecDestroy.
CUresult destroy_graph(std::unordered_set<Graph*>& set, void* h, const char* invalid) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Graph* g = live(set, h);
    if (g == nullptr) return fail(E_INVALID_VALUE, invalid);
    g->live = false;
    g->nodes.clear();
    return OK;
}
}  // namespace

CUresult enqueue(void* s, Context* ctx, const char* what, Function* fn, StreamOp op) {
    Capture* cap;
    if (CUresult r = capture_of(s, ctx, what, cap)) return r;
    if (cap == nullptr) return op ? op(ctx, what, true) : OK;
    if (!op) return OK;
    if (CUresult r = op(ctx, what, false)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    append(stream_of(s), Node{{}, fn, std::move(op)});
    return OK;
}

// cuThreadExchangeStreamCaptureMode's rules: a thread in GLOBAL mode may not make potentially unsafe
// calls while it, or any other thread in GLOBAL mode, captures; THREAD_LOCAL only looks at its own
// captures; RELAXED never forbids. Captures begun in RELAXED mode forbid nothing.
CUresult capture_unsafe(Context* ctx, const char* what, bool legacy_stream) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    CUresult r = OK;
    for (Capture* cap : t_capture_mode == 2 ? std::vector<Capture*>() : captures()) {
        bool mine = cap->thread == std::this_thread::get_id();
        if (cap->mode == 2 || (!mine && (t_capture_mode != 0 || cap->mode != 0))) continue;
        r = invalidate(cap, E_CAPTURE_UNSUPPORTED,
                       std::string(what) + ": not permitted while a stream is capturing (capture mode " +
                           (cap->mode == 0 ? "GLOBAL" : "THREAD_LOCAL") + ")");
    }
    if (r == OK && legacy_stream) return capture_legacy(ctx, what);
    return r;
}

}  // namespace emu

using namespace emu;

typedef void* CUgraph;
typedef void* CUgraphExec;

// ============================== streams and events ==============================

API CUresult cuStreamCreate(CUstream* out, unsigned int flags) {
    EMU_ENTER_CTX(CAT_NONE)
    if (out == nullptr) return fail(E_INVALID_VALUE, "null stream pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* s = new Stream{c, flags, true, nullptr, {}};
    g_streams.insert(s);
    *out = s;
    return OK;
}

API CUresult cuStreamDestroy_v2(CUstream s) {
    EMU_ENTER_CTX(CAT_NONE)
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* st = stream_of(s) != nullptr ? live(g_streams, s) : nullptr;
    if (st == nullptr) return fail(E_INVALID_HANDLE, "cuStreamDestroy: invalid stream");
    if (Capture* cap = st->capture) {
        invalidate(cap, E_CAPTURE_INVALIDATED, "a capturing stream was destroyed");
        if (cap->origin == st) end_capture(cap);
    }
    st->live = false;
    return OK;
}

API CUresult cuStreamSynchronize(CUstream s) {
    EMU_ENTER_CTX(CAT_SYNC)
    if (CUresult r = check_stream(s)) return r;
    return capture_sync_stream(s, "cuStreamSynchronize");
}

API CUresult cuStreamQuery(CUstream s) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    return capture_sync_stream(s, "cuStreamQuery");
}

API CUresult cuCtxSynchronize(void) {
    EMU_ENTER_CTX(CAT_SYNC)
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    CUresult r = OK;
    for (Capture* cap : captures())
        if (cap->ctx == c)
            r = invalidate(cap, E_CAPTURE_UNSUPPORTED, "cuCtxSynchronize: a stream of the context is capturing");
    return r;
}

// On a capturing stream, or on one that joins a capture by waiting on an event recorded in it, the
// event's nodes become dependencies of the stream's next work.
API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int) {
    EMU_ENTER_CTX(CAT_NONE)
    const char* what = "cuStreamWaitEvent";
    if (CUresult r = check_stream(s)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* ev = live(g_events, e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuStreamWaitEvent: invalid event");
    Capture* cap;
    if (CUresult r = capture_of(s, c, what, cap)) return r;
    Capture* evcap = ev->capture != nullptr && ev->capture->active ? ev->capture : nullptr;
    Stream* st = stream_of(s);
    if (cap == nullptr) {
        if (evcap == nullptr || st == nullptr) return OK;
        if (evcap->invalidated) return fail(E_CAPTURE_INVALIDATED, std::string(what) + ": the event's capture was invalidated");
        st->capture = evcap;  // a fork: the stream joins the capture
        st->deps = ev->deps;
        evcap->streams.push_back(st);
        return OK;
    }
    if (evcap == cap) {
        for (size_t d : ev->deps)
            if (std::find(st->deps.begin(), st->deps.end(), d) == st->deps.end()) st->deps.push_back(d);
        return OK;
    }
    if (evcap != nullptr) {
        invalidate(evcap, E_CAPTURE_MERGE, what);
        return invalidate(cap, E_CAPTURE_MERGE, std::string(what) + ": the event belongs to another capture");
    }
    return invalidate(cap, E_CAPTURE_ISOLATION, std::string(what) + ": the event was not recorded in this capture");
}

API CUresult cuStreamGetCtx(CUstream s, CUcontext* out) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null pointer");
    Stream* st = stream_of(s);
    *out = st ? st->ctx : c;
    return OK;
}

API CUresult cuEventCreate(CUevent* out, unsigned int flags) {
    EMU_ENTER_CTX(CAT_NONE)
    if (out == nullptr) return fail(E_INVALID_VALUE, "null event pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* e = new Event{c, flags, true, false, {}, nullptr, {}};
    g_events.insert(e);
    *out = e;
    return OK;
}

API CUresult cuEventDestroy_v2(CUevent e) {
    EMU_ENTER_CTX(CAT_NONE)
    Event* ev = live(g_events, e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventDestroy: invalid event");
    ev->live = false;
    return OK;
}

// In a capture the event records the capture and the stream's current dependencies instead of a time.
API CUresult cuEventRecord(CUevent e, CUstream s) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    Event* ev = live(g_events, e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventRecord: invalid event");
    Capture* cap;
    if (CUresult r = capture_of(s, c, "cuEventRecord", cap)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    ev->capture = cap;
    if (cap != nullptr) {
        ev->deps = stream_of(s)->deps;
        return OK;
    }
    ev->recorded = true;
    ev->when = std::chrono::steady_clock::now();
    return OK;
}

API CUresult cuEventQuery(CUevent e) {
    EMU_ENTER_CTX(CAT_NONE)
    Event* ev = live(g_events, e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventQuery: invalid event");
    return capture_sync_event(c, ev, "cuEventQuery");
}

API CUresult cuEventSynchronize(CUevent e) {
    EMU_ENTER_CTX(CAT_SYNC)
    Event* ev = live(g_events, e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventSynchronize: invalid event");
    return capture_sync_event(c, ev, "cuEventSynchronize");
}

API CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
    EMU_ENTER_CTX(CAT_NONE)
    Event* a = live(g_events, start);
    Event* b = live(g_events, end);
    if (ms == nullptr) return fail(E_INVALID_VALUE, "cuEventElapsedTime: null pointer");
    if (a == nullptr || b == nullptr || (a->flags & 2u) || (b->flags & 2u) || !a->recorded || !b->recorded)
        return fail(E_INVALID_HANDLE, "cuEventElapsedTime: events must be timing-enabled and recorded");
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return OK;
}

// ================================= stream capture =================================

API CUresult cuStreamBeginCapture_v2(CUstream s, int mode) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    if (legacy(s)) return fail(E_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the legacy stream cannot be captured");
    if (s == reinterpret_cast<void*>(2))
        return fail(E_NOT_SUPPORTED, "cuStreamBeginCapture: capturing the per-thread stream is not supported by the stand-in");
    if (mode < 0 || mode > 2) return fail(E_INVALID_VALUE, "cuStreamBeginCapture: unknown capture mode " + std::to_string(mode));
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* st = stream_of(s);
    if (st->capture != nullptr) return fail(E_ILLEGAL_STATE, "cuStreamBeginCapture: the stream is already capturing");
    Capture* cap = new Capture{st->ctx, st, mode, std::this_thread::get_id(), true, false, {}, {}, {st}};
    g_captures.insert(cap);
    st->capture = cap;
    st->deps.clear();
    return OK;
}

API CUresult cuStreamEndCapture(CUstream s, CUgraph* out) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "cuStreamEndCapture: null graph pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* st = stream_of(s);
    Capture* cap = st != nullptr ? st->capture : nullptr;
    if (cap == nullptr) return fail(E_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing");
    if (cap->origin != st)
        return invalidate(cap, E_CAPTURE_UNMATCHED, "cuStreamEndCapture: the capture began on another stream");
    if (cap->mode != 2 && cap->thread != std::this_thread::get_id())
        return fail(E_CAPTURE_WRONG_THREAD, "cuStreamEndCapture: the capture began on another thread");
    *out = nullptr;
    bool complete = joined(*cap);
    end_capture(cap);
    if (cap->invalidated) return fail(E_CAPTURE_INVALIDATED, "cuStreamEndCapture: the capture was invalidated: " + cap->why);
    if (!complete) return fail(E_CAPTURE_UNJOINED, "cuStreamEndCapture: work forked onto another stream was not joined back");
    Graph* g = new Graph{cap->ctx, std::move(cap->nodes)};
    g_graphs.insert(g);
    *out = g;
    return OK;
}

API CUresult cuStreamIsCapturing(CUstream s, int* status) {
    EMU_ENTER_CTX(CAT_NONE)
    if (CUresult r = check_stream(s)) return r;
    if (status == nullptr) return fail(E_INVALID_VALUE, "cuStreamIsCapturing: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    std::vector<Capture*> active = captures();
    if (legacy(s) && std::any_of(active.begin(), active.end(), [c](Capture* cap) { return blocking(cap, c); }))
        return fail(E_CAPTURE_IMPLICIT, "cuStreamIsCapturing: a blocking stream of the context is capturing");
    Stream* st = stream_of(s);
    Capture* cap = st != nullptr ? st->capture : nullptr;
    *status = cap == nullptr ? 0 : cap->invalidated ? 2 : 1;
    return OK;
}

API CUresult cuThreadExchangeStreamCaptureMode(int* mode) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    if (mode == nullptr || *mode < 0 || *mode > 2) return fail(E_INVALID_VALUE, "cuThreadExchangeStreamCaptureMode: bad mode");
    std::swap(*mode, t_capture_mode);
    return OK;
}

// ===================================== graphs =====================================

API CUresult cuGraphDestroy(CUgraph h) {
    EMU_ENTER_CTX(CAT_NONE)
    return destroy_graph(g_graphs, h, "cuGraphDestroy: invalid graph");
}

// The executable graph is a copy: the graph may be destroyed afterwards.
API CUresult cuGraphInstantiateWithFlags(CUgraphExec* out, CUgraph h, unsigned long long flags) {
    EMU_ENTER_CTX(CAT_NONE)
    if (out == nullptr) return fail(E_INVALID_VALUE, "cuGraphInstantiate: null pointer");
    if ((flags & ~0xFull) != 0) return fail(E_INVALID_VALUE, "cuGraphInstantiate: unknown flags");
    if (flags & 4u) return fail(E_NOT_SUPPORTED, "cuGraphInstantiate: device launch is not supported by the stand-in");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Graph* g = live(g_graphs, h);
    if (g == nullptr) return fail(E_INVALID_VALUE, "cuGraphInstantiate: invalid graph");
    if (g->ctx != c) return fail(E_INVALID_CONTEXT, "cuGraphInstantiate: the graph belongs to another context");
    for (const Node& node : g->nodes)
        if (node.fn != nullptr)
            if (CUresult r = check_function(node.fn, c)) return r;
    Graph* exec = new Graph{c, g->nodes};
    g_execs.insert(exec);
    *out = exec;
    return OK;
}

API CUresult cuGraphExecDestroy(CUgraphExec h) {
    EMU_ENTER_CTX(CAT_NONE)
    return destroy_graph(g_execs, h, "cuGraphExecDestroy: invalid executable graph");
}

// Runs the nodes in capture order, with the checks of eager work; into a capturing stream, appends
// them to the capture instead.
API CUresult cuGraphLaunch(CUgraphExec h, CUstream s) {
    EMU_ENTER_CTX(CAT_GRAPH_LAUNCH)
    std::vector<Node> nodes;
    {
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        Graph* g = live(g_execs, h);
        if (g == nullptr) return fail(E_INVALID_VALUE, "cuGraphLaunch: invalid executable graph");
        if (g->ctx != c) return fail(E_INVALID_CONTEXT, "cuGraphLaunch: the graph belongs to another context");
        Capture* cap;
        if (CUresult r = capture_of(s, c, "cuGraphLaunch", cap)) return r;
        if (cap != nullptr) {
            for (const Node& node : g->nodes) append(stream_of(s), Node(node));
            return OK;
        }
        nodes = g->nodes;
    }
    for (const Node& node : nodes) {
        if (node.fn != nullptr) {
            if (CUresult r = check_function(node.fn, c)) return r;
            if (CUresult r = node.op(c, "cuGraphLaunch", true)) return r;
        } else if (node.op(c, "cuGraphLaunch", true) != OK) {
            // Memory freed since the capture: on a device the graph faults, and the context with it.
            std::string why;
            {
                std::lock_guard<std::mutex> lock(g_msg_mu);
                why = g_last_error;
            }
            std::lock_guard<std::recursive_mutex> lock(g_mu);
            make_sticky(c, E_ILLEGAL_ADDRESS, why);
            note_failure(why);
            return E_ILLEGAL_ADDRESS;
        }
    }
    return OK;
}
