/* bench's device-peak table (bench_peaks.c): a GPU name finds its own row, the longer names first;
 * a part the table has no cited figures for is unknown (0, no source: MFU asks for --peak-tflops),
 * never a row whose name it merely contains (H200 NVL and GH200 took the H200 SXM's 989 TFLOP/s). */
#include <string.h>

#include "testlib.h"
#include "train/bench.h"

static void expect_peak(const char *name, double tflops, double gbps, const char *tf_source) {
    const char *tf = "unset", *bw = "unset";
    double t = bench_peak_tflops(name, &tf), g = bench_peak_gbps(name, &bw);
    EXPECT(t == tflops && g == gbps, "%s: %g TFLOP/s, %g GB/s; expected %g and %g", name, t, g, tflops, gbps);
    if (tf_source)
        EXPECT(tf && !strcmp(tf, tf_source), "%s: source '%s', expected '%s'", name, tf ? tf : "(null)", tf_source);
    else EXPECT(!tf && !bw, "%s: unknown, yet sources '%s', '%s'", name, tf ? tf : "(null)", bw ? bw : "(null)");
}

static void test_lookup(void) {
    expect_peak("NVIDIA H200", 989.4, 4800.0, "H200: 989.4 TFLOP/s dense bf16");
    expect_peak("NVIDIA H100 80GB HBM3", 989.4, 3350.0, "H100 SXM: 989.4 TFLOP/s dense bf16");
    expect_peak("NVIDIA H100 PCIe", 756.0, 2000.0, "H100 PCIe: 756 TFLOP/s dense bf16");
    expect_peak("NVIDIA H100 NVL", 835.0, 3900.0, "H100 NVL: 835 TFLOP/s dense bf16");
    expect_peak("NVIDIA A100-SXM4-80GB", 312.0, 2039.0, "A100: 312 TFLOP/s dense bf16");
    expect_peak("NVIDIA GeForce RTX 4090", 165.2, 1008.0, "RTX 4090: 165.2 TFLOP/s dense bf16 (fp32 accumulate)");
    /* the 4090 D and the laptop 4090 contain the desktop card's name: unknown, not its figures */
    expect_peak("NVIDIA GeForce RTX 4090 D", 0, 0, NULL);
    expect_peak("NVIDIA GeForce RTX 4090 Laptop GPU", 0, 0, NULL);
    /* other parts whose names contain H200: unknown, not the SXM row */
    expect_peak("NVIDIA H200 NVL", 0, 0, NULL);
    expect_peak("NVIDIA GH200 480GB", 0, 0, NULL);
    expect_peak("NVIDIA GH200 144G HBM3e", 0, 0, NULL);
    expect_peak("Tesla V100-SXM2-16GB", 0, 0, NULL);
    expect_peak(NULL, 0, 0, NULL);
}

static void test_options_override(void) {
    BenchOptions o;
    bench_options_default(&o);
    const char *tf, *bw;
    DevicePeaks pk = bench_device_peaks(&o, "NVIDIA GH200 480GB", &tf, &bw);
    EXPECT(pk.tflops == 0 && pk.gbps == 0 && !tf && !bw, "GH200 without --peak-tflops: %g", pk.tflops);
    o.peak_tflops = 900, o.peak_gbps = 4000;
    pk = bench_device_peaks(&o, "NVIDIA GH200 480GB", &tf, &bw);
    EXPECT(pk.tflops == 900 && pk.gbps == 4000 && tf && !strcmp(tf, "--peak-tflops") && bw &&
               !strcmp(bw, "--peak-gbps"),
           "--peak-tflops/--peak-gbps: %g, %g", pk.tflops, pk.gbps);
}

int main(void) {
    TEST_RUN(test_lookup);
    TEST_RUN(test_options_override);
    return test_summary();
}
