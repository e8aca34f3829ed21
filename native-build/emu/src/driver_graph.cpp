// The driver API of the fusedopt CPU stand-in for libcuda.so.1: stream capture and CUDA graphs.
// A capturing stream records its work as nodes instead of running it: a kernel node keeps a copy of
// the launch's parameter values (so later changes to the caller's argument buffers do not reach it),
// copy and memset nodes keep their addresses (so a replay reads the host and device memory as it is
// then). Streams join a capture by waiting on an event recorded in it, and must be joined back before
// it ends. Graphs run their nodes in capture order, which respects every dependency.
// What capture forbids fails with the driver's codes and, as the driver does, invalidates the capture.
#include <algorithm>
#include <cstring>
#include <thread>
#include <unordered_set>

#include "driver_internal.h"

namespace emu {

struct Node {
    enum Kind { KERNEL, COPY, MEMSET } kind = KERNEL;
    std::vector<size_t> deps;  // indices of earlier nodes of the same capture
    Function* fn = nullptr;
    LaunchConfig cfg{};
    std::vector<unsigned char> params;  // the entry's parameter buffer
    void* dst = nullptr;
    const void* src = nullptr;
    bool dst_dev = false, src_dev = false;
    size_t n = 0, width = 0;  // bytes (copy); count and element width (memset)
    unsigned value = 0;
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

Stream* stream_of(void* s) {
    if (s == nullptr || s == reinterpret_cast<void*>(1) || s == reinterpret_cast<void*>(2)) return nullptr;
    return static_cast<Stream*>(s);
}
bool legacy(void* s) { return s == nullptr || s == reinterpret_cast<void*>(1); }

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

// The capture a stream records into, or an error when that capture was invalidated.
CUresult recording(Stream* st, const char* what, Capture*& cap) {
    cap = st != nullptr ? st->capture : nullptr;
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

CUresult run_node(Context* ctx, const Node& node) {
    if (node.kind == Node::KERNEL) {
        if (CUresult r = check_function(node.fn, ctx)) return r;
        std::vector<void*> args;
        for (const PtxParam& p : node.fn->entry.params)
            args.push_back(const_cast<unsigned char*>(node.params.data()) + p.offset);
        LaunchConfig cfg = node.cfg;
        cfg.args = args.data();
        return run_kernel(ctx, *node.fn, cfg, "cuGraphLaunch");
    }
    CUresult r = node.kind == Node::COPY
                     ? copy_d_h(node.dst, node.dst_dev, node.src, node.src_dev, node.n, "cuGraphLaunch (copy node)")
                     : memset_n(reinterpret_cast<CUdeviceptr>(node.dst), node.value, node.n, node.width,
                                "cuGraphLaunch (memset node)");
    if (r != OK) {
        // Memory freed since the capture: on a device the graph faults, and the context with it.
        std::string why;
        {
            std::lock_guard<std::mutex> lock(g_msg_mu);
            why = g_last_error;
        }
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        make_sticky(ctx, E_ILLEGAL_ADDRESS, why);
        note_failure(why);
        return E_ILLEGAL_ADDRESS;
    }
    return OK;
}

Graph* live_graph(std::unordered_set<Graph*>& set, void* h) {
    Graph* g = static_cast<Graph*>(h);
    return g != nullptr && set.count(g) != 0 && g->live ? g : nullptr;
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
    for (bool r : reached)
        if (!r) return false;
    return true;
}
}  // namespace

CUresult capture_of(void* s, Context* ctx, const char* what, Capture*& cap) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (CUresult r = check_stream(s)) return r;
    if (legacy(s)) {
        cap = nullptr;
        return capture_legacy(ctx, what);
    }
    return recording(stream_of(s), what, cap);
}

void record_kernel(void* s, Function* f, const LaunchConfig& cfg) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Node node;
    node.fn = f;
    node.cfg = cfg;
    node.cfg.args = nullptr;
    node.params.assign(f->entry.param_bytes, 0);
    for (size_t i = 0; i < f->entry.params.size(); i++)
        std::memcpy(node.params.data() + f->entry.params[i].offset, cfg.args[i], f->entry.params[i].bytes);
    append(stream_of(s), std::move(node));
}

CUresult stream_copy(void* s, void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what) {
    Context* c = current_context();
    Capture* cap;
    if (CUresult r = capture_of(s, c, what, cap)) return r;
    if (cap == nullptr) return copy_d_h(dst, dst_dev, src, src_dev, n, what);
    if (CUresult r = copy_d_h(dst, dst_dev, src, src_dev, n, what, false)) return r;
    if (n == 0) return OK;
    Node node;
    node.kind = Node::COPY;
    node.dst = dst;
    node.src = src;
    node.dst_dev = dst_dev;
    node.src_dev = src_dev;
    node.n = n;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    append(stream_of(s), std::move(node));
    return OK;
}

CUresult stream_memset(void* s, CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what) {
    Context* c = current_context();
    Capture* cap;
    if (CUresult r = capture_of(s, c, what, cap)) return r;
    if (cap == nullptr) return memset_n(dst, value, count, width, what);
    if (CUresult r = memset_n(dst, value, count, width, what, false)) return r;
    if (count == 0) return OK;
    Node node;
    node.kind = Node::MEMSET;
    node.dst = reinterpret_cast<void*>(dst);
    node.value = value;
    node.n = count;
    node.width = width;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    append(stream_of(s), std::move(node));
    return OK;
}

// cuThreadExchangeStreamCaptureMode's rules: a thread in GLOBAL mode may not make potentially unsafe
// calls while it, or any other thread in GLOBAL mode, captures; THREAD_LOCAL only looks at its own
// captures; RELAXED never forbids. Captures begun in RELAXED mode forbid nothing.
CUresult capture_unsafe(const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (t_capture_mode == 2) return OK;
    CUresult r = OK;
    for (Capture* cap : captures()) {
        bool mine = cap->thread == std::this_thread::get_id();
        if (cap->mode == 2 || (!mine && (t_capture_mode != 0 || cap->mode != 0))) continue;
        r = invalidate(cap, E_CAPTURE_UNSUPPORTED,
                       std::string(what) + ": not permitted while a stream is capturing (capture mode " +
                           (cap->mode == 0 ? "GLOBAL" : "THREAD_LOCAL") + ")");
    }
    return r;
}

// Work on the legacy stream would wait for every blocking stream of the context, and so for the
// capture of any that is capturing.
CUresult capture_legacy(Context* ctx, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    CUresult r = OK;
    for (Capture* cap : captures()) {
        for (Stream* st : cap->streams) {
            if (cap->ctx != ctx || (st->flags & 1u) != 0) continue;
            r = invalidate(cap, E_CAPTURE_IMPLICIT, std::string(what) +
                                                        ": the legacy stream would depend on a capturing blocking stream");
            break;
        }
    }
    return r;
}

CUresult capture_sync_stream(void* s, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (legacy(s)) return capture_legacy(current_context(), what);
    Stream* st = stream_of(s);
    if (st == nullptr || st->capture == nullptr) return OK;
    return invalidate(st->capture, E_CAPTURE_UNSUPPORTED, std::string(what) + ": the stream is capturing");
}

CUresult capture_sync_context(Context* ctx, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    CUresult r = OK;
    for (Capture* cap : captures())
        if (cap->ctx == ctx) r = invalidate(cap, E_CAPTURE_UNSUPPORTED, std::string(what) + ": a stream of the context is capturing");
    return r;
}

CUresult capture_sync_event(Event* ev, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (ev->capture != nullptr) {
        std::string msg = std::string(what) + ": the event was last recorded in a capturing stream";
        if (ev->capture->active) return invalidate(ev->capture, E_CAPTURED_EVENT, msg);
        return fail(E_CAPTURED_EVENT, msg);
    }
    return capture_unsafe(what);
}

CUresult capture_record_event(Event* ev, void* s, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* st = stream_of(s);
    ev->capture = st->capture;
    ev->deps = st->deps;
    return OK;
}

CUresult capture_wait_event(void* s, Event* ev, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Capture* cap;
    if (CUresult r = capture_of(s, current_context(), what, cap)) return r;
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

void capture_stream_destroyed(Stream* st) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Capture* cap = st->capture;
    if (cap == nullptr) return;
    invalidate(cap, E_CAPTURE_INVALIDATED, "a capturing stream was destroyed");
    if (cap->origin == st) end_capture(cap);
}

}  // namespace emu

using namespace emu;

typedef void* CUgraph;
typedef void* CUgraphExec;

API CUresult cuStreamBeginCapture_v2(CUstream s, int mode) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
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
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
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
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    if (status == nullptr) return fail(E_INVALID_VALUE, "cuStreamIsCapturing: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (legacy(s)) {
        for (Capture* cap : captures())
            for (Stream* st : cap->streams)
                if (cap->ctx == c && (st->flags & 1u) == 0)
                    return fail(E_CAPTURE_IMPLICIT, "cuStreamIsCapturing: a blocking stream of the context is capturing");
    }
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

API CUresult cuGraphDestroy(CUgraph h) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Graph* g = live_graph(g_graphs, h);
    if (g == nullptr) return fail(E_INVALID_VALUE, "cuGraphDestroy: invalid graph");
    g->live = false;
    g->nodes.clear();
    return OK;
}

// The executable graph is a copy: the graph may be destroyed afterwards.
API CUresult cuGraphInstantiateWithFlags(CUgraphExec* out, CUgraph h, unsigned long long flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "cuGraphInstantiate: null pointer");
    if ((flags & ~0xFull) != 0) return fail(E_INVALID_VALUE, "cuGraphInstantiate: unknown flags");
    if (flags & 4u) return fail(E_NOT_SUPPORTED, "cuGraphInstantiate: device launch is not supported by the stand-in");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Graph* g = live_graph(g_graphs, h);
    if (g == nullptr) return fail(E_INVALID_VALUE, "cuGraphInstantiate: invalid graph");
    if (g->ctx != c) return fail(E_INVALID_CONTEXT, "cuGraphInstantiate: the graph belongs to another context");
    for (const Node& node : g->nodes)
        if (node.kind == Node::KERNEL)
            if (CUresult r = check_function(node.fn, c)) return r;
    Graph* exec = new Graph{c, g->nodes};
    g_execs.insert(exec);
    *out = exec;
    return OK;
}

API CUresult cuGraphExecDestroy(CUgraphExec h) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Graph* g = live_graph(g_execs, h);
    if (g == nullptr) return fail(E_INVALID_VALUE, "cuGraphExecDestroy: invalid executable graph");
    g->live = false;
    g->nodes.clear();
    return OK;
}

// Runs the nodes in capture order; into a capturing stream, appends them to the capture instead.
API CUresult cuGraphLaunch(CUgraphExec h, CUstream s) {
    EMU_ENTER(CAT_GRAPH_LAUNCH)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::vector<Node> nodes;
    {
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        Graph* g = live_graph(g_execs, h);
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
    for (const Node& node : nodes)
        if (CUresult r = run_node(c, node)) return r;
    return OK;
}
