// The emulator's own checks, each provoked once: a scenario runs in a child process and must end
// the way the emulator promises (a fatal error with a message naming the fault, or, for a missing
// barrier, a visibly wrong result), while its corrected twin runs clean. Without this, an
// emulator that checked nothing would pass every emulated test.
#define EMU_FULL_RUNTIME 1
#include "emu_common.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

void emu_set_defer_copies(bool on); // emu_runtime.cpp: EMU_DEFER_COPIES for these checks

namespace {

__global__ void fill_kernel(float *y, int n, float v) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = v;
}
// Thread t reads what thread t+1 wrote to shared memory; with_barrier says whether it waits.
__global__ void neighbour_kernel(float *out, int with_barrier) {
    float *s = (float *)emu_static_smem(sizeof(float) * 64);
    s[threadIdx.x] = (float)threadIdx.x;
    if (with_barrier) __syncthreads();
    out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}
__global__ void early_exit_kernel(float *y) {
    if (threadIdx.x >= 16) return;
    __syncthreads();
    y[threadIdx.x] = 1;
}
__global__ void smem_kernel(float *y) {
    float *s = (float *)emu_dyn_smem();
    s[threadIdx.x] = 1;
    y[threadIdx.x] = s[threadIdx.x];
}
__global__ void shuffle_kernel(float *y) { y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1); }
__global__ void copy_kernel(float *y, const float *x, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = x[i];
}

float *device_floats(int n) {
    void *p = nullptr;
    if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) abort();
    return (float *)p;
}

// Each returns normally when the emulator let it through.
void host_deref() {
    float *d = device_floats(16);
    d[3] = 1.0f; // a host write to device memory
}
void freed_pointer() {
    float *d = device_floats(16);
    cudaFree(d);
    emu_launch(1, 32).go("fill_kernel", fill_kernel, d, 16, 1.0f);
}
void host_pointer_argument() {
    static float host[16];
    emu_launch(1, 32).go("fill_kernel", fill_kernel, host, 16, 1.0f);
}
void write_past_end() {
    float *d = device_floats(16);
    emu_launch(1, 32).go("fill_kernel", fill_kernel, d, 17, 1.0f); // one element too many
    cudaFree(d);
}
void copy_past_end() {
    float *d = device_floats(16);
    float h[32] = {};
    cudaMemcpyAsync(d + 8, h, 16 * sizeof(float), cudaMemcpyHostToDevice, 0);
}
void copy_wrong_direction() {
    float *d = device_floats(16), *e = device_floats(16);
    cudaMemcpyAsync(d, e, 16 * sizeof(float), cudaMemcpyHostToDevice, 0);
}
void pinned_changed_before_sync() {
    float *d = device_floats(1024);
    void *h = nullptr;
    cudaHostAlloc(&h, 1024 * sizeof(float), 0);
    memset(h, 0, 1024 * sizeof(float));
    cudaMemcpyAsync(d, h, 1024 * sizeof(float), cudaMemcpyHostToDevice, 0);
    ((float *)h)[5] = 42; // before the stream is synchronised
    cudaStreamSynchronize(0);
}
void pinned_changed_after_sync() { // the legal order: no error
    float *d = device_floats(1024);
    void *h = nullptr;
    cudaHostAlloc(&h, 1024 * sizeof(float), 0);
    memset(h, 0, 1024 * sizeof(float));
    cudaMemcpyAsync(d, h, 1024 * sizeof(float), cudaMemcpyHostToDevice, 0);
    cudaStreamSynchronize(0);
    ((float *)h)[5] = 42;
    cudaStreamSynchronize(0);
}
// EMU_DEFER_COPIES (emu_runtime.cpp): held-back uploads and the streams' order.
float *pinned_floats(int n, float v) {
    void *h = nullptr;
    if (cudaHostAlloc(&h, n * sizeof(float), 0) != cudaSuccess) abort();
    for (int i = 0; i < n; i++) ((float *)h)[i] = v;
    return (float *)h;
}
// d's first float, read on `stream` (a download orders after the stream's earlier work).
float first_on(const float *d, cudaStream_t stream) {
    float v = 0;
    cudaMemcpyAsync(&v, d, sizeof v, cudaMemcpyDeviceToHost, stream);
    cudaStreamSynchronize(stream);
    return v;
}
void held_source_changed() {
    emu_set_defer_copies(true);
    cudaStream_t copy;
    cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking);
    float *d = device_floats(1024), *h = pinned_floats(1024, 1);
    cudaMemcpyAsync(d, h, 1024 * sizeof(float), cudaMemcpyHostToDevice, copy);
    h[7] = 2; // before anything waited for the copy
    cudaEvent_t done;
    cudaEventCreate(&done);
    cudaEventRecord(done, copy);
    cudaEventSynchronize(done);
}
void barrier_after_exit() {
    float *d = device_floats(32);
    emu_launch(1, 32).go("early_exit_kernel", early_exit_kernel, d);
}
void smem_without_optin() {
    float *d = device_floats(64);
    emu_launch(1, 64, 64 << 10).go("smem_kernel", smem_kernel, d);
}
void smem_with_optin() {
    float *d = device_floats(64);
    cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
    emu_launch(1, 64, 64 << 10).go("smem_kernel", smem_kernel, d);
}
void shuffle_partial_warp() {
    float *d = device_floats(16);
    emu_launch(1, 16).go("shuffle_kernel", shuffle_kernel, d); // full mask, 16 lanes
}
void block_too_large() {
    float *d = device_floats(16);
    emu_launch(1, 2048).go("fill_kernel", fill_kernel, d, 16, 1.0f);
}

struct Outcome {
    bool aborted;
    std::string stderr_text;
};

Outcome run_child(void (*scenario)()) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        scenario();
        _exit(0);
    }
    close(fds[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, (size_t)n);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return Outcome{!(WIFEXITED(status) && WEXITSTATUS(status) == 0), text};
}

int failures = 0, checks = 0;

// One check's line: "ok" or "FAIL", its name and what it found.
void report(const char *name, bool ok, const char *says) {
    checks++;
    if (!ok) failures++;
    printf("%s %-28s %s\n", ok ? "ok  " : "FAIL", name, says);
}

void expect_fatal(const char *name, void (*scenario)(), const char *phrase) {
    Outcome o = run_child(scenario);
    bool ok = o.aborted && o.stderr_text.find(phrase) != std::string::npos;
    std::string says = ok ? phrase : o.aborted ? "wrong message: " + o.stderr_text.substr(0, 300) : "was not stopped";
    report(name, ok, says.c_str());
}

void expect_clean(const char *name, void (*scenario)()) {
    Outcome o = run_child(scenario);
    report(name, !o.aborted, o.aborted ? o.stderr_text.substr(0, 300).c_str() : "runs clean");
}

// A missing barrier shows as a wrong result in one of the two orders the scheduler alternates.
void missing_barrier() {
    for (int with_barrier = 0; with_barrier < 2; with_barrier++) {
        float *d = device_floats(64);
        int wrong_any = 0;
        for (int launch = 0; launch < 2; launch++) {
            emu_launch(1, 64).go("neighbour_kernel", neighbour_kernel, d, with_barrier);
            float h[64];
            cudaMemcpyAsync(h, d, sizeof h, cudaMemcpyDeviceToHost, 0);
            cudaStreamSynchronize(0);
            int wrong = 0;
            for (int t = 0; t < 64; t++) wrong += h[t] != (float)((t + 1) % 64);
            wrong_any |= wrong > 0;
        }
        report(with_barrier ? "neighbour read, barrier" : "neighbour read, no barrier",
               with_barrier ? !wrong_any : wrong_any,
               with_barrier ? "right in both orders" : "wrong in one order: the race shows");
        cudaFree(d);
    }
}

void stream_order() {
    emu_set_defer_copies(true);
    cudaStream_t compute, copy;
    cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking);
    cudaEvent_t done;
    cudaEventCreate(&done);
    const int n = 64;
    float *d = device_floats(n), *e = device_floats(n), *h = pinned_floats(n, 7), *h2 = pinned_floats(n, 9);
    cudaMemsetAsync(d, 0, n * sizeof(float), compute);
    cudaStreamSynchronize(compute);
    // 1. a copy on the copy stream, nothing waits: the compute stream's kernels and copies still read the
    // bytes from before it
    cudaMemcpyAsync(d, h, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    emu_launch(1, 32, 0, compute).go("copy_kernel", copy_kernel, e, (const float *)d, n);
    report("copy stream, no wait", first_on(e, compute) == 0 && first_on(d, compute) == 0,
           "a kernel and a download on the compute stream read the bytes from before the copy");
    // 2. recorded after the copy and waited for by the compute stream: its kernels see the copy
    cudaEventRecord(done, copy);
    cudaStreamWaitEvent(compute, done, 0);
    emu_launch(1, 32, 0, compute).go("copy_kernel", copy_kernel, e, (const float *)d, n);
    report("copy stream, waited", first_on(e, compute) == 7, "a kernel after cudaStreamWaitEvent reads the copy");
    // 3. the host waits for an event after a second copy: the copy ran, and its source may change at once
    cudaMemcpyAsync(d, h2, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaEventRecord(done, copy);
    cudaEventSynchronize(done);
    h2[0] = 1; // settled by the event: no race, no fatal error at the next synchronisation
    cudaStreamSynchronize(copy);
    report("event synchronised", first_on(d, compute) == 9, "the copy ran and settled its source");
    // 4. in one stream, a kernel after a copy sees it
    h[0] = 5; // its copy (check 1) was settled by the event synchronisation of check 3
    cudaMemcpyAsync(d, h, n * sizeof(float), cudaMemcpyHostToDevice, compute);
    emu_launch(1, 32, 0, compute).go("copy_kernel", copy_kernel, e, (const float *)d, n);
    report("one stream", first_on(e, compute) == 5, "a kernel after a copy on its stream reads the copy");
    // 5. a stream's synchronisation runs what it held back
    h2[1] = 3;
    cudaMemcpyAsync(d + 1, h2 + 1, sizeof(float), cudaMemcpyHostToDevice, copy);
    bool stale = first_on(d + 1, compute) == 7; // check 4 left h's 7 there
    cudaStreamSynchronize(copy);
    report("copy stream synchronised", stale && first_on(d + 1, compute) == 3, "held back until then, run by it");
    // 6. a wait covers the copies queued before the event was recorded, not those after it
    float *f = device_floats(n), *g = device_floats(n), *h3 = pinned_floats(n, 11), *h4 = pinned_floats(n, 13);
    cudaMemsetAsync(f, 0, n * sizeof(float), compute);
    cudaMemsetAsync(g, 0, n * sizeof(float), compute);
    cudaMemcpyAsync(f, h3, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaEventRecord(done, copy);
    cudaMemcpyAsync(g, h4, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaStreamWaitEvent(compute, done, 0);
    emu_launch(1, 32, 0, compute).go("copy_kernel", copy_kernel, e, (const float *)g, n);
    report("wait, later copy", first_on(f, compute) == 11 && first_on(e, compute) == 0,
           "the copy before the event ran, the one after it did not");
    cudaStreamSynchronize(copy);
    // 7. a launch on the legacy default stream runs after every stream's copies
    float *h5 = pinned_floats(n, 15);
    cudaMemcpyAsync(f, h5, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    emu_launch(1, 32).go("copy_kernel", copy_kernel, e, (const float *)f, n);
    report("launch on stream 0", first_on(e, compute) == 15, "a kernel on the default stream reads the copy");
    cudaStreamSynchronize(copy);
    // 8. an event on the legacy default stream covers every stream's copies before it, none after it
    float *h6 = pinned_floats(n, 17), *h7 = pinned_floats(n, 19);
    cudaMemcpyAsync(f, h6, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaEventRecord(done, 0);
    cudaMemcpyAsync(g, h7, n * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaEventSynchronize(done);
    report("event on stream 0", first_on(f, compute) == 17 && first_on(g, compute) == 13,
           "its synchronisation ran the copy before it, not the one after");
    cudaStreamSynchronize(copy);
    emu_set_defer_copies(false);
}

// An upload queued after an event on the legacy default stream is not settled by waiting for the event
// (copies immediate here: the settle check alone).
void source_changed_after_event() {
    cudaStream_t copy;
    cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking);
    float *d = device_floats(1024), *h = pinned_floats(1024, 1);
    cudaEvent_t before;
    cudaEventCreate(&before);
    cudaEventRecord(before, 0);
    cudaMemcpyAsync(d, h, 1024 * sizeof(float), cudaMemcpyHostToDevice, copy);
    cudaEventSynchronize(before);
    h[3] = 2; // the copy may still be reading
    cudaStreamSynchronize(copy);
}

// EMU_DEFER_COPIES read from the environment (a fresh process: the switch is read once): exit 0 when an
// upload on one stream was held back from a kernel on another, 1 when it ran at once.
int defer_from_environment() {
    cudaStream_t compute, copy;
    cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking);
    float *d = device_floats(64), *e = device_floats(64), *h = pinned_floats(64, 7);
    cudaMemsetAsync(d, 0, 64 * sizeof(float), compute);
    cudaMemcpyAsync(d, h, 64 * sizeof(float), cudaMemcpyHostToDevice, copy);
    emu_launch(1, 32, 0, compute).go("copy_kernel", copy_kernel, e, (const float *)d, 64);
    float v = first_on(e, compute);
    cudaDeviceSynchronize();
    return v == 0 ? 0 : 1;
}

// A failed peer on demand (fake_nccl.cpp, EMU_NCCL_ASYNC_ERROR_AT=2) in a one-rank communicator: the first
// all-reduce completes; the second is queued but its stream never completes and the communicator reports
// ncclRemoteError, until ncclCommAbort ends it. Each unmet promise is fatal, naming it.
void require(bool ok, const char *promise) {
    if (ok) return;
    fprintf(stderr, "broken promise: %s\n", promise);
    exit(1);
}
ncclComm_t lone_comm_failing_second_collective(float **buf) {
    setenv("EMU_NCCL_ASYNC_ERROR_AT", "2", 1);
    ncclUniqueId id;
    ncclComm_t comm;
    require(ncclGetUniqueId(&id) == ncclSuccess && ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess, "a comm");
    *buf = device_floats(16);
    require(ncclAllReduce(*buf, *buf, 16, ncclFloat32, ncclSum, comm, 0) == ncclSuccess, "collective 1 queued");
    require(cudaStreamQuery(0) == cudaSuccess, "collective 1 completes");
    require(ncclAllReduce(*buf, *buf, 16, ncclFloat32, ncclSum, comm, 0) == ncclSuccess, "collective 2 queued");
    return comm;
}
void lost_peer_reported() {
    float *buf;
    ncclComm_t comm = lone_comm_failing_second_collective(&buf);
    require(cudaStreamQuery(0) == cudaErrorNotReady && cudaStreamQuery(0) == cudaErrorNotReady,
            "the stream of collective 2 stays not ready");
    cudaStream_t other;
    cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking);
    require(cudaStreamQuery(other) == cudaSuccess, "a non-blocking stream does not wait for it");
    ncclResult_t async_error = ncclSuccess;
    require(ncclCommGetAsyncError(comm, &async_error) == ncclSuccess && async_error == ncclRemoteError,
            "ncclCommGetAsyncError reports ncclRemoteError");
    require(strstr(ncclGetErrorString(async_error), "remote process exited") != nullptr, "NCCL's text for it");
    require(ncclAllReduce(buf, buf, 16, ncclFloat32, ncclSum, comm, 0) == ncclRemoteError,
            "a later collective on the communicator fails");
    require(ncclCommAbort(comm) == ncclSuccess, "ncclCommAbort");
    require(cudaStreamQuery(0) == cudaSuccess && cudaStreamSynchronize(0) == cudaSuccess &&
                cudaDeviceSynchronize() == cudaSuccess,
            "the stream completes after the abort");
}
void on_alarm(int) {
    const char msg[] = "still waiting after 1 s\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}
void synchronise_hung_stream() {
    float *buf;
    lone_comm_failing_second_collective(&buf);
    signal(SIGALRM, on_alarm);
    alarm(1);
    cudaStreamSynchronize(0); // as on a GPU: for ever
}

// This program again with EMU_DEFER_COPIES=value (unset when null): its exit status.
int run_self_with_defer(const char *value) {
    pid_t pid = fork();
    if (pid == 0) {
        if (value) setenv("EMU_DEFER_COPIES", value, 1);
        else unsetenv("EMU_DEFER_COPIES");
        execl("/proc/self/exe", "cuda_emulator_checks", "--defer-from-environment", (char *)nullptr);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

} // namespace

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--defer-from-environment")) return defer_from_environment();
    // The checks below switch EMU_DEFER_COPIES themselves: one set in the environment changes none of them.
    emu_set_defer_copies(false);
    expect_fatal("host dereference", host_deref, "host code touched device memory");
    expect_fatal("freed pointer argument", freed_pointer, "points into freed device memory");
    expect_fatal("host pointer argument", host_pointer_argument, "is not device memory");
    expect_fatal("write past the end", write_past_end, "past the end of this 64-byte device allocation");
    expect_fatal("copy past the end", copy_past_end, "past its end");
    expect_fatal("copy in the wrong direction", copy_wrong_direction, "device memory where host memory was expected");
    expect_fatal("pinned source changed", pinned_changed_before_sync, "changed 4096 bytes of page-locked memory");
    expect_clean("pinned source after sync", pinned_changed_after_sync);
    expect_fatal("barrier after an exit", barrier_after_exit, "exited while others wait at __syncthreads");
    expect_fatal("shared memory, no opt-in", smem_without_optin, "without cudaFuncSetAttribute");
    expect_clean("shared memory, opt-in", smem_with_optin);
    expect_fatal("shuffle on a partial warp", shuffle_partial_warp, "names lanes beyond the block");
    expect_fatal("block of 2,048 threads", block_too_large, "outside the limits (1,024 threads)");
    missing_barrier();
    expect_fatal("held copy's source changed", held_source_changed, "before the copy ran (EMU_DEFER_COPIES)");
    stream_order();
    expect_fatal("upload after a waited event", source_changed_after_event, "changed 4096 bytes of page-locked memory");
    expect_clean("lost NCCL peer", lost_peer_reported);
    expect_fatal("sync of a lost peer's stream", synchronise_hung_stream, "still waiting after 1 s");
    int held = run_self_with_defer("1"), immediate = run_self_with_defer(nullptr);
    report("EMU_DEFER_COPIES=1", held == 0, held == 0 ? "read from the environment: uploads held back"
                                                        : "uploads were not held back");
    report("EMU_DEFER_COPIES unset", immediate == 1, immediate == 1 ? "every upload runs at once"
                                                                    : "an upload was held back");
    // Fresh device memory reads as NaN, not zero.
    float *d = device_floats(4);
    float h[4];
    cudaMemcpyAsync(h, d, sizeof h, cudaMemcpyDeviceToHost, 0);
    cudaStreamSynchronize(0);
    bool nan = std::isnan(h[0]) && std::isnan(h[3]);
    report("fresh memory", nan, nan ? "reads NaN" : "does not read NaN");
    printf("%d checks: %d passed, %d failed\n", checks, checks - failures, failures);
    return failures ? 1 : 0;
}
