/* dfer bench's memory figures: the host's resident high-water mark (CPU backend) and the device's bytes in
 * use (CUDA), over the training steps and over the forward-only passes, averaged over the ranks; and the CPU's
 * name for the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/fsutil.h"
#include "train/bench.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_mem.h"
#endif

void bench_cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ') v++;
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, n, "%s", v);
            }
            break;
        }
    fclose(f);
}

/* ---- host memory -------------------------------------------------------------------------------- */

/* Resets the process's resident high-water mark to the current RSS (Linux >= 4.0); 0 when it could. */
int bench_rss_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

double bench_process_peak_bytes(void) {
    struct rusage u;
    CHECK_SYS(getrusage(RUSAGE_SELF, &u));
    return (double)u.ru_maxrss * 1024.0; /* Linux: KiB */
}

/* The rank's peak memory over the training steps (the ranks' mean) and how it was measured: read after the
 * training steps, before any forward-only pass. */
double bench_peak_memory(Backend backend, int hwm_reset, Group *g, const char **method) {
    double peak = 0;
#ifdef DFER_WITH_CUDA
    if (backend == BACKEND_CUDA) {
        peak = (double)dfer_cuda_peak_bytes();
        *method = "device bytes in use (cudaMemGetInfo total - free) sampled after a sync at every phase "
                  "boundary of the training steps, highest sample minus the baseline before the model was built";
    } else
#endif
    {
        (void)backend;
        peak = hwm_reset ? proc_status_bytes("VmHWM") : bench_process_peak_bytes();
        *method = hwm_reset ? "resident set high-water mark (VmHWM) from the end of model building to the end "
                              "of the training steps (weights, activations, gradients, optimiser state)"
                            : "process peak resident set (ru_maxrss) up to the end of the training steps, model "
                              "building included";
    }
    double peaks[1] = {peak};
    group_sum_doubles(g, peaks, 1);
    return peaks[0] / g->size;
}

/* The rank's peak memory over the forward-only passes (the ranks' mean; -1 where it cannot be told from the
 * training's): CUDA, the highest sample after those passes (cuda_high) minus the baseline; CPU, the resident
 * high-water mark since a reset taken after the training steps (eval_hwm_reset). */
double bench_eval_peak_memory(Backend backend, int eval_hwm_reset, size_t cuda_high, Group *g,
                                     const char **method) {
    double peak = -1;
    (void)cuda_high;
#ifdef DFER_WITH_CUDA
    if (backend == BACKEND_CUDA) {
        size_t base = dfer_cuda_baseline_bytes();
        peak = cuda_high > base ? (double)(cuda_high - base) : 0;
        *method = "device bytes in use (cudaMemGetInfo total - free) sampled after a sync at the end of every "
                  "forward-only pass, highest sample minus the baseline before the model was built (what the "
                  "allocator kept from the training steps counts)";
    } else
#endif
    {
        (void)backend;
        if (eval_hwm_reset) peak = proc_status_bytes("VmHWM");
        *method = eval_hwm_reset ? "resident set high-water mark (VmHWM) from the end of the training steps to the "
                                   "end of the forward-only passes (weights, activations; the heap the steps "
                                   "left resident counts)"
                                 : "not measured: the resident high-water mark cannot be reset on this system";
    }
    double peaks[2] = {peak, peak < 0 ? 1 : 0};
    group_sum_doubles(g, peaks, 2);
    return peaks[1] > 0 ? -1 : peaks[0] / g->size;
}
