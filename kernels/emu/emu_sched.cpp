// The emulator's block scheduler: the threads of a block are fibers on the launching host
// thread (see emu_common.h for why and for the order they run in). A fiber runs until it
// waits at a barrier or finishes; a barrier opens when every thread it waits for is there.
// Anything else a GPU would hang on or leave undefined (a block barrier some threads skip by
// exiting, a warp barrier whose mask names lanes that are not running) is fatal here, with
// the kernel's name and where each thread stands.
#include "emu_common.h"

#include <cstdio>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

thread_local EmuThread emu_cur;

namespace {

// ---- context switch -----------------------------------------------------------------------------
// x86-64: save the callee-saved registers on the current stack, store its pointer in *save,
// load `load` and pop the other fiber's registers (System V ABI: rbx, rbp, r12-r15; the
// floating-point control words are never changed by the kernels, so they are not switched).
#if defined(__x86_64__)
extern "C" void emu_switch(void **save, void *load);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl emu_switch\n"
        ".type emu_switch,@function\n"
        "emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size emu_switch, .-emu_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");
#else
#error "kernels/emu: the fiber switch is written for x86-64 only"
#endif

enum FiberState { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, FINISHED };

constexpr size_t kStackBytes = 64 << 10; // per thread; the kernels keep < 2 KiB of locals
constexpr size_t kGuardBytes = 4096;      // an unmapped page below each stack
constexpr int kMaxThreads = 1024;
constexpr size_t kStaticSmemMax = 48 << 10;     // static __shared__ per block
constexpr size_t kSmemPerBlockMax = 101376;     // sm_89's opt-in maximum (sm_80: 163 KiB, sm_90: 227 KiB)

struct Fiber {
    void *sp;
    FiberState state;
    unsigned warp_mask; // at a warp barrier: the lanes it waits for
    int static_arrays;  // static __shared__ arrays this thread has declared so far
};

struct Scheduler {
    char *stacks = nullptr; // kMaxThreads * (guard + stack)
    void *main_sp = nullptr;
    Fiber fibers[kMaxThreads];
    int nthreads = 0, current = -1;
    int at_block = 0;
    int at_warp[kMaxThreads / 32];
    const char *kernel = "";
    void (*body)(void *) = nullptr;
    void *ctx = nullptr;
    unsigned long long launches = 0;
};
thread_local Scheduler *g_sched;

[[noreturn]] void fail(const char *fmt, const char *kernel, const char *detail) {
    fprintf(stderr, "FATAL (CUDA emulator) kernel %s: ", kernel);
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

Scheduler &sched() {
    if (!g_sched) {
        g_sched = new Scheduler();
        size_t per = kGuardBytes + kStackBytes;
        void *m = mmap(nullptr, per * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED) {
            perror("CUDA emulator: mmap of the fiber stacks");
            abort();
        }
        g_sched->stacks = (char *)m;
        for (int t = 0; t < kMaxThreads; t++)
            if (mprotect(g_sched->stacks + t * per, kGuardBytes, PROT_NONE) != 0) {
                perror("CUDA emulator: mprotect of a stack guard");
                abort();
            }
    }
    return *g_sched;
}

void set_thread_indices(Scheduler &s, int t) {
    emu_cur.tid = make_uint3((unsigned)t % emu_cur.bdim.x, (unsigned)t / emu_cur.bdim.x % emu_cur.bdim.y,
                             (unsigned)t / (emu_cur.bdim.x * emu_cur.bdim.y));
    s.current = t;
}

[[noreturn]] void fiber_main() {
    Scheduler &s = *g_sched;
    s.body(s.ctx);
    s.fibers[s.current].state = FINISHED;
    emu_switch(&s.fibers[s.current].sp, s.main_sp);
    __builtin_unreachable();
}

// A fresh fiber: its stack holds the six registers emu_switch pops and fiber_main as the
// address `ret` jumps to, placed so that fiber_main starts with the ABI's stack alignment.
void fiber_init(Scheduler &s, int t) {
    size_t per = kGuardBytes + kStackBytes;
    uintptr_t top = (uintptr_t)(s.stacks + (size_t)(t + 1) * per);
    top &= ~(uintptr_t)15;
    uintptr_t *sp = (uintptr_t *)top;
    *--sp = 0;                        // fiber_main's would-be return address
    *--sp = (uintptr_t)&fiber_main;   // popped by ret
    for (int k = 0; k < 6; k++) *--sp = 0;
    s.fibers[t] = Fiber{sp, RUNNABLE, 0, 0};
}

// Back to the scheduler from the running fiber.
void yield_to_scheduler() {
    Scheduler &s = *g_sched;
    emu_switch(&s.fibers[s.current].sp, s.main_sp);
}

int warp_size_of(const Scheduler &s, int w) { return std::min(32, s.nthreads - 32 * w); }

void describe_and_fail(Scheduler &s, const char *what) {
    static char detail[512];
    int counts[4] = {0, 0, 0, 0};
    for (int t = 0; t < s.nthreads; t++) counts[s.fibers[t].state]++;
    snprintf(detail, sizeof detail,
             "%s (block (%u,%u,%u) of %d threads: %d running, %d at __syncthreads, %d at a warp barrier, %d exited)",
             what, emu_cur.bid.x, emu_cur.bid.y, emu_cur.bid.z, s.nthreads, counts[RUNNABLE], counts[AT_BLOCK_BARRIER],
             counts[AT_WARP_BARRIER], counts[FINISHED]);
    fail("%s", s.kernel, detail);
}

void run_block(Scheduler &s, bool forward_first) {
    for (int t = 0; t < s.nthreads; t++) fiber_init(s, t);
    s.at_block = 0;
    for (int w = 0; w < (s.nthreads + 31) / 32; w++) s.at_warp[w] = 0;
    int phase = 0;
    for (;;) {
        bool ran = false, forward = forward_first ^ (phase & 1);
        int phase_at_start = phase;
        for (int k = 0; k < s.nthreads && phase == phase_at_start; k++) {
            int t = forward ? k : s.nthreads - 1 - k;
            if (s.fibers[t].state != RUNNABLE) continue;
            set_thread_indices(s, t);
            emu_switch(&s.main_sp, s.fibers[t].sp);
            ran = true;
            // A block barrier that every thread has reached opens a new phase.
            if (s.at_block == s.nthreads) {
                for (int u = 0; u < s.nthreads; u++) s.fibers[u].state = RUNNABLE;
                s.at_block = 0;
                phase++;
            }
        }
        if (phase != phase_at_start) continue;
        int finished = 0;
        for (int t = 0; t < s.nthreads; t++) finished += s.fibers[t].state == FINISHED;
        if (finished == s.nthreads) return;
        if (!ran) {
            if (s.at_block > 0 && finished > 0)
                describe_and_fail(s, "some threads exited while others wait at __syncthreads");
            describe_and_fail(s, "no thread can go on (a barrier some threads never reach)");
        }
    }
}

} // namespace

// The k-th static __shared__ array a thread declares is the same buffer for every thread of
// the block (gen.py turns each declaration into a call).
void *emu_static_smem(size_t bytes) {
    EmuBlock *b = emu_cur.blk;
    size_t k = (size_t)g_sched->fibers[g_sched->current].static_arrays++;
    if (k == b->stat_offsets.size()) {
        size_t off = b->stat.size();
        b->stat_offsets.push_back(off);
        // Reserved once per block (before any thread holds a pointer into it), so growing
        // for a second array never moves the first.
        if (b->stat.capacity() < kStaticSmemMax) b->stat.reserve(kStaticSmemMax);
        b->stat.resize(off + (bytes + 15) / 16 * 16, (char)0x7f);
        if (b->stat.size() > kStaticSmemMax)
            fail("%s", g_sched->kernel, "more than 48 KiB of static shared memory");
        if (b->stat.size() + b->dyn.size() - 16 > kSmemPerBlockMax)
            fail("%s", g_sched->kernel, "static and dynamic shared memory above sm_89's 99 KiB per block");
    }
    return b->stat.data() + b->stat_offsets[k];
}

void emu_check_launch(const char *kernel, const void *kernel_id, dim3 grid, dim3 block, size_t dyn_smem,
                      size_t param_bytes) {
    static char detail[256];
    if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        snprintf(detail, sizeof detail, "grid (%u,%u,%u) outside the limits (2^31-1, 65535, 65535)", grid.x, grid.y,
                 grid.z);
    else if (block.x < 1 || block.y < 1 || block.z < 1 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
             (size_t)block.x * block.y * block.z > 1024)
        snprintf(detail, sizeof detail, "block (%u,%u,%u) outside the limits (1,024 threads)", block.x, block.y,
                 block.z);
    else if (param_bytes > 4096)
        snprintf(detail, sizeof detail, "%zu bytes of kernel parameters (limit 4,096)", param_bytes);
    else if (dyn_smem > kSmemPerBlockMax)
        snprintf(detail, sizeof detail, "%zu bytes of dynamic shared memory: above sm_89's 99 KiB per block", dyn_smem);
    else if (dyn_smem > emu_smem_optin(kernel_id))
        snprintf(detail, sizeof detail,
                 "%zu bytes of dynamic shared memory without cudaFuncSetAttribute(MaxDynamicSharedMemorySize) "
                 "allowing that many (%zu)", dyn_smem, emu_smem_optin(kernel_id));
    else
        return;
    fail("%s", kernel, detail);
}

void emu_block_barrier() {
    Scheduler &s = *g_sched;
    s.fibers[s.current].state = AT_BLOCK_BARRIER;
    s.at_block++;
    int me = s.current;
    yield_to_scheduler();
    set_thread_indices(s, me);
}

void emu_warp_barrier(unsigned mask) {
    Scheduler &s = *g_sched;
    int me = s.current, w = me / 32, lane = me % 32, size = warp_size_of(s, w);
    unsigned existing = size == 32 ? 0xffffffffu : ((1u << size) - 1);
    if (!(mask >> lane & 1u)) describe_and_fail(s, "a warp barrier or shuffle whose mask leaves out the calling lane");
    if (mask & ~existing) describe_and_fail(s, "a warp barrier or shuffle whose mask names lanes beyond the block");
    for (int l = 0; l < size; l++)
        if ((mask >> l & 1u) && s.fibers[32 * w + l].state == FINISHED)
            describe_and_fail(s, "a warp barrier or shuffle whose mask names a lane that has exited");
    s.fibers[me].state = AT_WARP_BARRIER;
    s.fibers[me].warp_mask = mask;
    if (++s.at_warp[w] == __builtin_popcount(mask)) {
        for (int l = 0; l < size; l++) {
            Fiber &f = s.fibers[32 * w + l];
            if (!(mask >> l & 1u)) continue;
            if (f.state != AT_WARP_BARRIER || f.warp_mask != mask)
                describe_and_fail(s, "lanes of one warp wait at warp barriers with different masks");
            f.state = RUNNABLE;
        }
        s.at_warp[w] = 0;
    }
    yield_to_scheduler();
    set_thread_indices(s, me);
}

void emu_run_grid(const char *kernel, const void *, dim3 grid, dim3 block, size_t dyn_smem, void (*body)(void *),
                  void *ctx) {
    Scheduler &s = sched();
    if (s.current >= 0) fail("%s", kernel, "launched from inside a kernel");
    int n = (int)(block.x * block.y * block.z);
    if (n < 1 || n > kMaxThreads) fail("%s", kernel, "block of more than 1,024 threads");
    s.nthreads = n;
    s.kernel = kernel;
    s.body = body;
    s.ctx = ctx;
    bool forward = (s.launches++ & 1) == 0;
    EmuBlock blk;
    blk.slots.assign((size_t)((n + 31) / 32) * 32, 0);
    blk.mma.assign((size_t)((n + 31) / 32) * 32 * 6, 0);
    emu_cur.bdim = block;
    emu_cur.gdim = grid;
    emu_cur.blk = &blk;
    emu_device_access(true);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                // Fresh shared memory holds garbage-like bytes, as on the GPU.
                blk.dyn.assign(dyn_smem + 16, (char)0x7f);
                blk.stat.clear();
                blk.stat_offsets.clear();
                emu_cur.bid = make_uint3(x, y, z);
                run_block(s, forward);
                forward = !forward;
            }
    emu_device_access(false);
    s.current = -1;
    emu_cur.blk = nullptr;
}
