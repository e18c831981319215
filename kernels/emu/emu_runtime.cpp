// A fake CUDA runtime for the emulated backend (emu.cmake): one "GPU" whose device memory
// lives in this process but behaves like a GPU's towards the host.
//
// - Device memory is a reserved region the host can neither read nor write except while a
//   kernel, a copy, a memset, a GEMM or a collective runs (emu_device_access). A host
//   dereference of a device pointer, which on a GPU crashes or reads garbage, is a SIGSEGV
//   here that names the allocation it hit. Freed memory is never handed out again and stays
//   closed, so a late use of it faults too.
// - cudaMalloc fills new memory with 0xff bytes (NaN in F32 and BF16): a result that reads
//   memory nothing wrote comes out NaN instead of the zeros fresh GPU pages often hold.
// - Every copy, memset and kernel pointer argument must lie inside one live allocation (a
//   copy's direction included: host to device must go from host memory to device memory).
// - An upload from page-locked memory is a DMA that runs whenever the GPU gets to it: the
//   caller must leave the source alone until the next stream synchronisation (ops.h's
//   contract). The emulator copies at once, remembers a checksum of the source and checks it
//   at that synchronisation: a source changed in between is a race on a GPU, fatal here.
// - Streams and events order copies as on a GPU. With EMU_DEFER_COPIES=1 an upload from
//   page-locked memory is held back, not run, until its stream's order demands it: a later
//   kernel, memset, GEMM, collective or copy that runs at once on the same stream (a later
//   held-back upload just queues behind it), a synchronisation of that
//   stream or of the device, or an event recorded after it on that stream being waited for
//   (cudaEventSynchronize, or cudaStreamWaitEvent by another stream). Work on another stream
//   that did not wait reads the bytes from before the copy, as a GPU may: a missing
//   cudaStreamWaitEvent between a copy stream and the compute stream changes results here.
//   Without it every copy runs at once. A held-back copy checks, when it runs, that its source
//   still has the bytes it had when queued.
//   Uploads from page-locked memory are settled (their sources free to change) by a
//   synchronisation of their stream or the device, or of an event recorded after them.
// - Device memory is bounded (DFER_EMU_GPU_GIB, default 24 GiB: the per-rank target), so the
//   memory planner's caps and cudaMemGetInfo behave as on a 24 GiB card.
// - A stream may hang (emu_stream_hang: a collective whose peer is gone): cudaStreamQuery reports
//   it not ready and a synchronisation waits, as on a GPU, until emu_stream_release.
// Launch limits and barriers are checked by emu_sched.cpp.
#define EMU_FULL_RUNTIME 1
#include "emu_common.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <execinfo.h>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace {

constexpr size_t kReserve = (size_t)1 << 40; // virtual address space for device memory: 1 TiB
constexpr size_t kAlign = 256;               // cudaMalloc's alignment
constexpr size_t kRedZone = 256;             // poisoned bytes after every allocation
constexpr unsigned char kRedByte = 0xa5;
size_t g_page;

using AllocMap = std::map<uintptr_t, size_t>; // start -> bytes

struct Device {
    std::mutex mu;
    char *base = nullptr;
    size_t used = 0;    // bump pointer (bytes from base)
    size_t live_bytes = 0, capacity = 0;
    AllocMap live, freed; // by start address
    std::vector<std::pair<char *, size_t>> open_runs;
    bool runs_dirty = true;
    int open_depth = 0;
    std::unordered_map<const void *, size_t> pinned; // cudaHostAlloc'd blocks
    std::unordered_map<const void *, size_t> smem_optin;
    struct PendingUpload {
        const void *src;
        size_t bytes;
        uint64_t checksum;
        const void *stream; // the stream it was queued on (nullptr: the legacy default stream)
        uint64_t seq;       // its place among all copies (copy_seq)
    };
    std::vector<PendingUpload> pending;
    std::vector<int *> streams;
    // EMU_DEFER_COPIES: copies held back per stream, in queue order
    struct HeldCopy {
        void *dst;
        const void *src;
        size_t bytes;
        uint64_t checksum;
        uint64_t seq;
    };
    struct StreamState {
        std::vector<HeldCopy> held;
    };
    std::unordered_map<const void *, StreamState> stream_state;
    // Copies issued so far, on all streams. One count, not one per stream: an event on the legacy default
    // stream stands for every stream's copies before it, so its number must order the copies of them all.
    uint64_t copy_seq = 0;
    // Streams whose work never completes (emu_stream_hang), with how many hung collectives each holds.
    std::map<const void *, int> hung;
};
Device g_dev;

// Whether uploads from page-locked memory wait for their stream's order (EMU_DEFER_COPIES=1, read at the
// first copy; emu_set_defer_copies for the emulator's own checks). -1: not read yet.
int g_defer_copies = -1;
bool defer_copies() {
    if (g_defer_copies < 0) {
        const char *e = getenv("EMU_DEFER_COPIES");
        g_defer_copies = e && e[0] == '1' && !e[1];
    }
    return g_defer_copies;
}
constexpr uint64_t kAllSeq = ~(uint64_t)0;

[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FATAL (CUDA emulator): ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    void *frames[32];
    int n = backtrace(frames, 32);
    backtrace_symbols_fd(frames, n, 2);
    fflush(stderr);
    abort();
}

uint64_t checksum(const void *p, size_t n) { // FNV-1a
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

// The allocation in m holding address p (its red zone included), or null.
const AllocMap::value_type *find_in(const AllocMap &m, const void *p) {
    uintptr_t a = (uintptr_t)p;
    auto it = m.upper_bound(a);
    if (it == m.begin()) return nullptr;
    --it;
    return a < it->first + it->second + kRedZone ? &*it : nullptr;
}
// The live allocation holding p (*live = true), else the freed one, else null.
const AllocMap::value_type *find_alloc(const void *p, bool *live) {
    const AllocMap::value_type *a = find_in(g_dev.live, p);
    *live = a != nullptr;
    return a ? a : find_in(g_dev.freed, p);
}

bool in_arena(const void *p) {
    return g_dev.base && (const char *)p >= g_dev.base && (const char *)p < g_dev.base + kReserve;
}

void recompute_runs() {
    g_dev.open_runs.clear();
    for (auto &[start, a] : g_dev.live) {
        uintptr_t lo = start & ~(uintptr_t)(g_page - 1);
        uintptr_t hi = (start + a + kRedZone + g_page - 1) & ~(uintptr_t)(g_page - 1);
        if (!g_dev.open_runs.empty()) {
            auto &last = g_dev.open_runs.back();
            if ((uintptr_t)last.first + last.second >= lo) {
                last.second = std::max((uintptr_t)last.first + last.second, hi) - (uintptr_t)last.first;
                continue;
            }
        }
        g_dev.open_runs.push_back({(char *)lo, hi - lo});
    }
    g_dev.runs_dirty = false;
}

void protect_all(int prot) {
    if (g_dev.runs_dirty) recompute_runs();
    for (auto &[p, n] : g_dev.open_runs)
        if (mprotect(p, n, prot) != 0) fatal("mprotect of device memory failed: %s", strerror(errno));
}

void on_segv(int sig, siginfo_t *info, void *) {
    const void *a = info->si_addr;
    if (in_arena(a)) {
        char msg[512];
        bool live;
        auto it = find_alloc(a, &live);
        const char *who = g_dev.open_depth ? "a kernel, copy or GEMM" : "host code";
        if (!it)
            snprintf(msg, sizeof msg, "%s touched device memory at %p, outside every allocation\n", who, a);
        else
            snprintf(msg, sizeof msg,
                     "%s touched device memory at %p: byte %zu of a%s device allocation of %zu bytes at %p%s\n", who,
                     a, (size_t)((uintptr_t)a - it->first), live ? " live" : " FREED", it->second,
                     (void *)it->first,
                     g_dev.open_depth ? "" : " (a host dereference of a device pointer: a crash or garbage on a GPU)");
        (void)!write(2, "FATAL (CUDA emulator): ", 23);
        (void)!write(2, msg, strlen(msg));
        void *frames[32];
        int n = backtrace(frames, 32);
        backtrace_symbols_fd(frames, n, 2);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    // Not ours: the default action, on return the access faults again.
    signal(sig, SIG_DFL);
}

void init_device() {
    if (g_dev.base) return;
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) fatal("cannot reserve %zu bytes of address space for device memory", kReserve);
    g_dev.base = (char *)m;
    const char *gib = getenv("DFER_EMU_GPU_GIB");
    double cap = gib && *gib ? atof(gib) : 24.0;
    if (!(cap > 0)) fatal("DFER_EMU_GPU_GIB=%s is not a positive number of GiB", gib);
    g_dev.capacity = (size_t)(cap * 1073741824.0);
    static char altstack[1 << 16];
    stack_t ss{};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
}

// Inside one live allocation, or fatal.
void require_device_range(const char *what, const void *p, size_t bytes) {
    bool live;
    auto it = find_alloc(p, &live);
    if (!it) fatal("%s: %p is not device memory (no cudaMalloc'd block holds it)", what, p);
    if (!live) fatal("%s: %p lies in a device allocation of %zu bytes that was freed", what, p, it->second);
    size_t off = (uintptr_t)p - it->first;
    if (off + bytes > it->second)
        fatal("%s: bytes [%zu, %zu) of a device allocation of %zu bytes at %p: past its end", what, off, off + bytes,
              it->second, (void *)it->first);
}

void require_host(const char *what, const void *p) {
    if (in_arena(p)) fatal("%s: %p is device memory where host memory was expected", what, p);
}

// Fatal if the host changed the source of an upload still queued (see the header comment). Settles the
// uploads queued on `stream` (every stream's when all_streams) up to copy number `upto` (copy_seq).
void settle_uploads(const char *where, bool all_streams = true, const void *stream = nullptr, uint64_t upto = kAllSeq) {
    std::vector<Device::PendingUpload> keep;
    for (auto &u : g_dev.pending) {
        if ((!all_streams && u.stream != stream) || u.seq > upto) {
            keep.push_back(u);
            continue;
        }
        if (checksum(u.src, u.bytes) != u.checksum)
            fatal("%s: the host changed %zu bytes of page-locked memory at %p after queuing their upload and before "
                  "a synchronisation: on a GPU the upload may read the new bytes",
                  where, u.bytes, u.src);
    }
    g_dev.pending.swap(keep);
}

// Runs the copies held back on `stream` (every stream's when all_streams) up to copy number `upto`
// (copy_seq), in queue order. Called without g_dev.mu held: a copy opens the device memory
// (emu_device_access), which takes it.
void run_held_copies(bool all_streams, const void *stream = nullptr, uint64_t upto = kAllSeq) {
    std::vector<std::pair<const void *, Device::HeldCopy>> due;
    {
        std::lock_guard<std::mutex> g(g_dev.mu);
        for (auto &[s, st] : g_dev.stream_state) {
            if (!all_streams && s != stream) continue;
            size_t n = 0;
            while (n < st.held.size() && st.held[n].seq <= upto) due.push_back({s, st.held[n++]});
            st.held.erase(st.held.begin(), st.held.begin() + (long)n);
        }
    }
    for (auto &[s, c] : due) {
        if (checksum(c.src, c.bytes) != c.checksum)
            fatal("the host changed the page-locked source of a queued copy before the copy ran (EMU_DEFER_COPIES): "
                  "%zu bytes at %p, queued on stream %p for device memory at %p; on a GPU the copy may read the new "
                  "bytes (wait for an event recorded after the copy, or synchronise its stream, before reusing the "
                  "source)",
                  c.bytes, c.src, s, c.dst);
        emu_device_access(true);
        memmove(c.dst, c.src, c.bytes);
        emu_device_access(false);
        std::lock_guard<std::mutex> g(g_dev.mu);
        g_dev.pending.push_back({c.src, c.bytes, c.checksum, s, c.seq});
    }
}

// Whether work on `stream` (nullptr: the legacy default stream, which waits for every stream; all_streams: any
// stream, for cudaDeviceSynchronize) never completes. Called with g_dev.mu held.
bool hung_locked(const void *stream, bool all_streams) {
    if (all_streams || stream == nullptr) return !g_dev.hung.empty();
    return g_dev.hung.count(stream) != 0;
}

// A synchronisation of a hung stream waits, as on a GPU, until the stream is released (for ever, unless
// another thread aborts the collective): the caller's watchdog or a kill ends it.
void wait_while_hung(const void *stream, bool all_streams) {
    for (;;) {
        {
            std::lock_guard<std::mutex> g(g_dev.mu);
            if (!hung_locked(stream, all_streams)) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Work queued on `stream` runs after the copies queued on it before (the legacy default stream: after all).
void order_after_held_copies(const void *stream) {
    if (defer_copies()) run_held_copies(stream == nullptr, stream);
}

} // namespace

// ---- hooks of emu_common.h --------------------------------------------------------------------

size_t emu_smem_optin(const void *kernel_id) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    auto it = g_dev.smem_optin.find(kernel_id);
    return it == g_dev.smem_optin.end() ? (size_t)48 << 10 : it->second;
}

void emu_check_kernel_pointer(const char *kernel, int arg, const void *p) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    bool live;
    auto it = find_alloc(p, &live);
    if (!it) fatal("kernel %s: pointer argument %d (%p) is not device memory", kernel, arg, p);
    if (!live) fatal("kernel %s: pointer argument %d (%p) points into freed device memory", kernel, arg, p);
}

void emu_device_access(bool open) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    if (!g_dev.base) return;
    if (open) {
        if (g_dev.open_depth++ == 0) protect_all(PROT_READ | PROT_WRITE);
    } else {
        if (--g_dev.open_depth == 0) protect_all(PROT_NONE);
    }
}

void emu_stream_order(cudaStream_t stream) { order_after_held_copies((const void *)stream); }

void emu_stream_hang(cudaStream_t stream) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    g_dev.hung[(const void *)stream]++;
}

void emu_stream_release(cudaStream_t stream) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    auto it = g_dev.hung.find((const void *)stream);
    if (it == g_dev.hung.end()) fatal("emu_stream_release(%p): the stream does not hang", (void *)stream);
    if (--it->second == 0) g_dev.hung.erase(it);
}

void emu_set_defer_copies(bool on) {
    order_after_held_copies(nullptr); // nothing held back outlives the switch
    g_defer_copies = on;
}

void emu_check_device_range(const char *what, const void *p, size_t bytes) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    require_device_range(what, p, bytes);
}

// ---- the runtime ----------------------------------------------------------------------------------

extern "C" {

cudaError_t cudaMalloc(void **p, size_t bytes) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    init_device();
    *p = nullptr;
    if (g_dev.live_bytes + bytes > g_dev.capacity) return cudaErrorMemoryAllocation;
    size_t start = (g_dev.used + kAlign - 1) / kAlign * kAlign;
    size_t end = start + bytes + kRedZone;
    if (end > kReserve) return cudaErrorMemoryAllocation;
    g_dev.used = end;
    char *q = g_dev.base + start;
    g_dev.live[(uintptr_t)q] = bytes;
    g_dev.live_bytes += bytes;
    g_dev.runs_dirty = true;
    // The pages of this block: open them for the fill, then leave them as the rest are.
    uintptr_t lo = (uintptr_t)q & ~(uintptr_t)(g_page - 1);
    uintptr_t hi = ((uintptr_t)q + bytes + kRedZone + g_page - 1) & ~(uintptr_t)(g_page - 1);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0) return cudaErrorMemoryAllocation;
    memset(q, 0xff, bytes);
    memset(q + bytes, kRedByte, kRedZone);
    if (g_dev.open_depth == 0) protect_all(PROT_NONE);
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    order_after_held_copies(nullptr); // cudaFree waits for the device: a held-back copy into p runs first
    std::lock_guard<std::mutex> g(g_dev.mu);
    auto it = g_dev.live.find((uintptr_t)p);
    if (it == g_dev.live.end())
        fatal("cudaFree(%p): %s", p,
              g_dev.freed.count((uintptr_t)p) ? "freed twice" : "not the start of a device allocation");
    char *q = (char *)p;
    size_t bytes = it->second;
    uintptr_t plo = (uintptr_t)q & ~(uintptr_t)(g_page - 1);
    uintptr_t phi = ((uintptr_t)q + bytes + kRedZone + g_page - 1) & ~(uintptr_t)(g_page - 1);
    // The red zone must be intact: a kernel or a copy wrote past the end otherwise.
    if (mprotect((void *)plo, phi - plo, PROT_READ | PROT_WRITE) != 0) fatal("mprotect: %s", strerror(errno));
    for (size_t i = 0; i < kRedZone; i++)
        if ((unsigned char)q[bytes + i] != kRedByte)
            fatal("cudaFree(%p): byte %zu past the end of this %zu-byte device allocation was overwritten", p, i,
                  bytes);
    g_dev.freed[(uintptr_t)q] = bytes;
    g_dev.live.erase(it);
    g_dev.live_bytes -= bytes;
    g_dev.runs_dirty = true;
    // Whole pages of the block go back to the system; all of its pages close (a live
    // neighbour sharing one reopens with the others when device access is next open).
    uintptr_t lo = ((uintptr_t)q + g_page - 1) & ~(uintptr_t)(g_page - 1);
    uintptr_t hi = ((uintptr_t)q + bytes) & ~(uintptr_t)(g_page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    if (mprotect((void *)plo, phi - plo, PROT_NONE) != 0) fatal("mprotect: %s", strerror(errno));
    if (g_dev.open_depth > 0) protect_all(PROT_READ | PROT_WRITE);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    init_device();
    *total_b = g_dev.capacity;
    *free_b = g_dev.capacity - g_dev.live_bytes;
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    void *q = aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (!q) return cudaErrorMemoryAllocation;
    g_dev.pinned[q] = bytes;
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p) {
    order_after_held_copies(nullptr); // a held-back copy from p runs (and is still unsettled) first
    std::lock_guard<std::mutex> g(g_dev.mu);
    if (!p) return cudaSuccess;
    auto it = g_dev.pinned.find(p);
    if (it == g_dev.pinned.end()) fatal("cudaFreeHost(%p): not a cudaHostAlloc'd block", p);
    for (auto &u : g_dev.pending)
        if ((const char *)u.src >= (const char *)p && (const char *)u.src < (const char *)p + it->second)
            fatal("cudaFreeHost(%p) while an upload from it is still queued (no synchronisation since)", p);
    g_dev.pinned.erase(it);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    memset(a, 0, sizeof *a);
    a->type = cudaMemoryTypeUnregistered;
    if (in_arena(p)) {
        a->type = cudaMemoryTypeDevice;
        a->devicePointer = (void *)p;
        return cudaSuccess;
    }
    for (auto &[q, n] : g_dev.pinned)
        if ((const char *)p >= (const char *)q && (const char *)p < (const char *)q + n) {
            a->type = cudaMemoryTypeHost;
            a->hostPointer = (void *)p;
        }
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    if (!bytes) return cudaSuccess;
    std::unique_lock<std::mutex> g(g_dev.mu);
    if (kind == cudaMemcpyDefault)
        kind = in_arena(dst) ? (in_arena(src) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                             : (in_arena(src) ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    bool pinned_src = false;
    switch (kind) {
    case cudaMemcpyHostToDevice:
        require_device_range("cudaMemcpyAsync (host to device) destination", dst, bytes);
        require_host("cudaMemcpyAsync (host to device) source", src);
        for (auto &[q, n] : g_dev.pinned)
            if ((const char *)src >= (const char *)q && (const char *)src + bytes <= (const char *)q + n)
                pinned_src = true;
        break;
    case cudaMemcpyDeviceToHost:
        require_device_range("cudaMemcpyAsync (device to host) source", src, bytes);
        require_host("cudaMemcpyAsync (device to host) destination", dst);
        break;
    case cudaMemcpyDeviceToDevice:
        require_device_range("cudaMemcpyAsync (device to device) source", src, bytes);
        require_device_range("cudaMemcpyAsync (device to device) destination", dst, bytes);
        break;
    default: fatal("cudaMemcpyAsync of kind %d between host buffers", (int)kind);
    }
    uint64_t seq = ++g_dev.copy_seq;
    if (pinned_src && defer_copies()) { // queued behind the stream's held copies, held itself
        g_dev.stream_state[(const void *)stream].held.push_back({dst, src, bytes, checksum(src, bytes), seq});
        return cudaSuccess;
    }
    g.unlock();
    order_after_held_copies((const void *)stream); // this copy runs now: the stream's earlier ones first
    emu_device_access(true);
    memmove(dst, src, bytes);
    emu_device_access(false);
    if (pinned_src) {
        std::lock_guard<std::mutex> g2(g_dev.mu);
        g_dev.pending.push_back({src, bytes, checksum(src, bytes), (const void *)stream, seq});
    }
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream) {
    if (!bytes) return cudaSuccess;
    order_after_held_copies((const void *)stream);
    {
        std::lock_guard<std::mutex> g(g_dev.mu);
        require_device_range("cudaMemsetAsync", p, bytes);
    }
    emu_device_access(true);
    memset(p, value, bytes);
    emu_device_access(false);
    return cudaSuccess;
}

// The legacy default stream (0) stands for every stream here.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    wait_while_hung((const void *)stream, false);
    order_after_held_copies((const void *)stream);
    std::lock_guard<std::mutex> g(g_dev.mu);
    settle_uploads("cudaStreamSynchronize", stream == nullptr, (const void *)stream);
    return cudaSuccess;
}

// Done (cudaSuccess) as a synchronisation would find it, with its copies run and settled, unless the stream
// hangs: cudaErrorNotReady. (A GPU may also answer not ready while work is merely running; the emulator
// runs everything at once, so it never is.)
cudaError_t cudaStreamQuery(cudaStream_t stream) {
    {
        std::lock_guard<std::mutex> g(g_dev.mu);
        if (hung_locked((const void *)stream, false)) return cudaErrorNotReady;
    }
    order_after_held_copies((const void *)stream);
    std::lock_guard<std::mutex> g(g_dev.mu);
    settle_uploads("cudaStreamQuery", stream == nullptr, (const void *)stream);
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    wait_while_hung(nullptr, true);
    order_after_held_copies(nullptr);
    std::lock_guard<std::mutex> g(g_dev.mu);
    settle_uploads("cudaDeviceSynchronize");
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int) {
    std::lock_guard<std::mutex> g(g_dev.mu);
    int *h = new int(0);
    g_dev.streams.push_back(h);
    *s = (cudaStream_t)h;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    order_after_held_copies((const void *)s);
    std::lock_guard<std::mutex> g(g_dev.mu);
    g_dev.stream_state.erase((const void *)s);
    auto it = std::find(g_dev.streams.begin(), g_dev.streams.end(), (int *)s);
    if (it == g_dev.streams.end()) fatal("cudaStreamDestroy(%p): not a stream", (void *)s);
    delete *it;
    g_dev.streams.erase(it);
    return cudaSuccess;
}

// Events (ops_profile.c's marks, the prefetch's ordering): the emulator runs each kernel when it is
// launched, so an event recorded on the stream holds the host's clock at that point, its stream, and
// the number of copies issued before it (copy_seq). Waiting for one (cudaEventSynchronize) runs and
// settles the copies its stream (the legacy default stream: every stream) queued before it, no later
// ones; cudaStreamWaitEvent runs them (the waiting stream's work sees them).
struct EmuEvent {
    double ms;
    bool recorded;
    const void *stream;
    uint64_t seq;
};

static double emu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = (cudaEvent_t) new EmuEvent{0, false, nullptr, 0};
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int) { return cudaEventCreate(e); }

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete (EmuEvent *)e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream) {
    auto *ev = (EmuEvent *)e;
    ev->ms = emu_now_ms();
    ev->recorded = true;
    ev->stream = (const void *)stream;
    std::lock_guard<std::mutex> g(g_dev.mu);
    ev->seq = g_dev.copy_seq;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    auto *ev = (EmuEvent *)e;
    if (!ev->recorded) fatal("cudaEventSynchronize(%p): the event was never recorded", (void *)e);
    if (defer_copies()) run_held_copies(ev->stream == nullptr, ev->stream, ev->seq);
    std::lock_guard<std::mutex> g(g_dev.mu);
    settle_uploads("cudaEventSynchronize", ev->stream == nullptr, ev->stream, ev->seq);
    return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned int) {
    auto *ev = (EmuEvent *)e;
    if (!ev->recorded) fatal("cudaStreamWaitEvent(%p): the event was never recorded", (void *)e);
    if (defer_copies()) run_held_copies(ev->stream == nullptr, ev->stream, ev->seq);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t from, cudaEvent_t to) {
    auto *a = (EmuEvent *)from, *b = (EmuEvent *)to;
    if (!a->recorded || !b->recorded) fatal("cudaEventElapsedTime: an event was never recorded");
    *ms = (float)(b->ms - a->ms);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) { return cudaSuccess; } // every failure here is fatal at once

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error (emulated)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (emulated: one device)";
    default: return "error (emulated)";
    }
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

/* The one emulated device's bus id: DFER_EMU_PCI_BUS_ID, so a test can give each process a GPU of its own
 * (as Slurm's --gpus-per-task=1 does: device 0 in every task, a different GPU behind it) or one to share. */
cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int d) {
    if (d != 0) return cudaErrorInvalidDevice;
    const char *e = getenv("DFER_EMU_PCI_BUS_ID");
    snprintf(id, (size_t)len, "%s", e && e[0] ? e : "0000:00:00.0");
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d != 0) return cudaErrorInvalidDevice;
    {
        std::lock_guard<std::mutex> g(g_dev.mu);
        init_device();
    }
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator on the CPU");
    p->major = 9;
    p->minor = 0;
    p->totalGlobalMem = g_dev.capacity;
    p->multiProcessorCount = 4;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 101376;
    p->maxThreadsPerBlock = 1024;
    p->warpSize = 32;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    if (d != 0) return cudaErrorInvalidDevice;
    switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = 4; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 101376; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    default: fatal("cudaDeviceGetAttribute: attribute %d is not emulated", (int)a);
    }
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute a, int value) {
    if (a != cudaFuncAttributeMaxDynamicSharedMemorySize)
        fatal("cudaFuncSetAttribute: attribute %d is not emulated", (int)a);
    if (value < 0 || value > 101376) return cudaErrorInvalidValue;
    std::lock_guard<std::mutex> g(g_dev.mu);
    g_dev.smem_optin[func] = (size_t)value;
    return cudaSuccess;
}

} // extern "C"
