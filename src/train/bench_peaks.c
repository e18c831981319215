/* The GPUs' peaks bench knows (dense bf16 TFLOP/s, memory GB/s) and the least time an op's work can take at
 * them: the bound column of `dfer bench --profile-steps`. */
#include <string.h>

#include "train/bench.h"

/* ---- devices and their peaks ------------------------------------------------------------------- */

/* The GPUs bench knows, from the vendor data sheets: the dense bf16 tensor-core peak (no sparsity) and the
 * memory bandwidth. The first entry whose name appears in the device's wins (the longer names first). */
typedef struct DevicePeakRow {
    const char *match;
    double tflops, gbps;
    const char *tflops_row, *gbps_row;
} DevicePeakRow;
static const DevicePeakRow k_device_peaks[] = {
    /* names that contain a known row's but are other parts, whose figures this table does not cite: unknown
     * (0, no source) rather than the SXM part's, so MFU asks for --peak-tflops (the H200 NVL is a lower-power
     * PCIe card; GH200 a Grace Hopper superchip, with HBM3 or HBM3e) */
    {"H200 NVL", 0, 0, NULL, NULL},
    {"GH200", 0, 0, NULL, NULL},
    /* the RTX 4090 D (fewer SMs) and the laptop part (another chip) are not the desktop card */
    {"RTX 4090 D", 0, 0, NULL, NULL},
    {"RTX 4090 Laptop", 0, 0, NULL, NULL},
    /* H100 SXM and H200: 1,979 TFLOP/s with sparsity on the data sheets, 989.4 dense (the H100 white paper) */
    {"H200", 989.4, 4800.0, "H200: 989.4 TFLOP/s dense bf16", "H200: 4.8 TB/s HBM3e"},
    {"H100 PCIe", 756.0, 2000.0, "H100 PCIe: 756 TFLOP/s dense bf16", "H100 PCIe: 2.0 TB/s HBM2e"},
    {"H100 NVL", 835.0, 3900.0, "H100 NVL: 835 TFLOP/s dense bf16", "H100 NVL: 3.9 TB/s HBM3"},
    {"H100", 989.4, 3350.0, "H100 SXM: 989.4 TFLOP/s dense bf16", "H100 SXM: 3.35 TB/s HBM3"},
    {"A100 80GB PCIe", 312.0, 1935.0, "A100: 312 TFLOP/s dense bf16", "A100 80GB PCIe: 1.935 TB/s HBM2e"},
    {"A100-SXM4-80GB", 312.0, 2039.0, "A100: 312 TFLOP/s dense bf16", "A100 SXM 80GB: 2.039 TB/s HBM2e"},
    {"A100", 312.0, 1555.0, "A100: 312 TFLOP/s dense bf16", "A100 40GB: 1.555 TB/s HBM2"},
    /* the Ada white paper: bf16 with fp32 accumulate, the only bf16 rate (330.3 is fp16 inputs with fp16 accumulate) */
    {"RTX 4090", 165.2, 1008.0, "RTX 4090: 165.2 TFLOP/s dense bf16 (fp32 accumulate)", "RTX 4090: 1.008 TB/s GDDR6X"},
    {"L40S", 362.05, 864.0, "L40S: 362 TFLOP/s dense bf16", "L40S: 864 GB/s GDDR6"},
};

static const DevicePeakRow *device_peaks(const char *name) {
    for (size_t i = 0; name && i < sizeof k_device_peaks / sizeof k_device_peaks[0]; i++)
        if (strstr(name, k_device_peaks[i].match)) return &k_device_peaks[i];
    return NULL;
}

double bench_peak_tflops(const char *name, const char **source) {
    const DevicePeakRow *r = device_peaks(name);
    if (source) *source = r ? r->tflops_row : NULL;
    return r ? r->tflops : 0;
}

double bench_peak_gbps(const char *name, const char **source) {
    const DevicePeakRow *r = device_peaks(name);
    if (source) *source = r ? r->gbps_row : NULL;
    return r ? r->gbps : 0;
}

DevicePeaks bench_device_peaks(const BenchOptions *o, const char *device_name, const char **tf_source,
                               const char **bw_source) {
    const char *tf = NULL, *bw = NULL;
    DevicePeaks pk = {o->peak_tflops > 0 ? o->peak_tflops : bench_peak_tflops(device_name, &tf),
                      o->peak_gbps > 0 ? o->peak_gbps : bench_peak_gbps(device_name, &bw)};
    if (o->peak_tflops > 0) tf = "--peak-tflops";
    if (o->peak_gbps > 0) bw = "--peak-gbps";
    if (tf_source) *tf_source = tf;
    if (bw_source) *bw_source = bw;
    return pk;
}

double bench_bound_ms(const OpsProfileEntry *e, double per_step, const DevicePeaks *pk) {
    if (pk->tflops <= 0 || pk->gbps <= 0) return -1;
    double compute = e->flops / (pk->tflops * 1e12), memory = e->bytes / (pk->gbps * 1e9);
    return (compute > memory ? compute : memory) * 1e3 * per_step;
}

