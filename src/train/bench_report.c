/* dfer bench's reporting side: the PyTorch peer run beside ours, the results/bench record and the
 * printout (the measuring side is bench.c). */
#include "train/bench.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "core/timer.h"
#include "core/version.h"
#include "io/digest.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "text/descriptions.h"
#include "text/tokenizer.h"
#include "train/job_model.h"
#include "train/optim.h"
#include "train/plan.h"

#ifndef DFER_SOURCE_DIR
#define DFER_SOURCE_DIR "."
#endif

/* ---- the PyTorch peer ------------------------------------------------------------------------------- */

static void shell_quote(char *out, size_t n, const char *s) {
    size_t k = 0;
    if (k + 1 < n) out[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    if (k + 1 < n) out[k++] = '\'';
    out[k] = 0;
}

/* a record's fields, short for the long printouts: absent ones read 0, "" and (jnum) NaN */
static int jint(const cJSON *o, const char *k) { return json_get_int(o, k, 0); }
static const char *jstr(const cJSON *o, const char *k) { return json_get_string(o, k, ""); }

cJSON *bench_run_peer(const BenchOptions *o, const cJSON *ours, const char *python, Err *err) {
    char arch[64];
    bench_normalise_arch(o->arch, arch, sizeof arch);
    ClipConfig c;
    if (clip_config_preset(arch, &c, err) != 0) return NULL;
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(ours, "text_tokens");
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(ours, "optimizer_config");
    char *lr = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(oc, "lr"));
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"method\":\"%s\",\"variant\":\"%s\",\"image_size\":%d,\"patch_size\":%d,\"vision_width\":%d,"
             "\"vision_layers\":%d,\"vision_heads\":%d,\"text_width\":%d,\"text_layers\":%d,\"text_heads\":%d,"
             "\"embed_dim\":%d,\"vocab_size\":%d,\"context_length\":%d,\"frames\":%d,\"batch\":%d,\"eval_batch\":%d,"
             "\"classes\":%d,\"len_pos\":%d,\"len_neg\":%d,\"len_text\":%d,\"len_desc\":%d,\"optimizer\":\"%s\","
             "\"lr\":%s,\"weight_decay\":%g,\"momentum\":%g,\"steps\":%d,\"warmup\":%d,\"threads\":%d,"
             "\"device\":\"%s\",\"precision\":\"%s\",\"seed\":%d,\"bottleneck_divisor\":%d,"
             "\"mid_high_bottleneck_divisor\":%d}",
             jstr(ours, "method"), jstr(ours, "variant"), c.image_size, c.patch_size, c.vision_width, c.vision_layers,
             c.vision_heads, c.text_width, c.text_layers, c.text_heads, c.embed_dim, c.vocab_size, c.context_length,
             o->frames, o->batch, jint(ours, "eval_batch"), o->classes, jint(tl, "positive"), jint(tl, "negative"),
             jint(tl, "class_prompts"), jint(tl, "description"), jstr(ours, "optimizer"), lr ? lr : "[0.01]",
             cJSON_GetObjectItemCaseSensitive(oc, "weight_decay")->valuedouble,
             cJSON_GetObjectItemCaseSensitive(oc, "momentum")->valuedouble, o->steps, o->warmup, jint(ours, "threads"),
             jstr(ours, "device_kind"), jstr(ours, "model_dtype"), o->seed, jint(ours, "bottleneck_divisor"),
             jint(ours, "mid_high_bottleneck_divisor"));
    free(lr);
    char qpy[4200], qscript[4200], qspec[4400], cmd[13000];
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/reference/bench_torch.py", DFER_SOURCE_DIR);
    const char *peer_name = bench_peer_name(o);
    if (!fs_exists(script)) return err_set(err, "%s: %s is missing", peer_name, script), NULL;
    shell_quote(qpy, sizeof qpy, python);
    shell_quote(qscript, sizeof qscript, script);
    shell_quote(qspec, sizeof qspec, spec);
    snprintf(cmd, sizeof cmd, "%s %s --spec %s%s", qpy, qscript, qspec, o->peer_compile ? " --compile" : "");
    if (o->n_sets > 0)
        fprintf(stderr, "dfer bench: note: the peer builds the method's default model (the variant, frames, batch, "
                        "classes and optimiser are passed); other --set keys are not mirrored\n");
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) return err_set(err, "%s: cannot run %s", peer_name, python), NULL;
    char line[65536], last[65536] = "";
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    int status = pclose(p);
    if (status != 0 || !last[0])
        return err_set(err, "%s: %s %s failed (exit status %d; its messages are above)", peer_name, python, script,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1), NULL;
    cJSON *peer = cJSON_Parse(last);
    if (!peer) return err_set(err, "%s: its output is not JSON: %.200s", peer_name, last), NULL;
    return peer;
}

const char *bench_peer_name(const BenchOptions *o) { return o->peer_compile ? "--peer torch-compile" : "--peer torch"; }

int bench_add_peer(cJSON *ours, const cJSON *peer, const char *peer_name, Err *err) {
    if (!peer) return 0;
    /* the peer's figures compare only where it built the model dfer ran, and only with every figure there (a NULL
     * read of a missing key crashed here) */
    static const char *const needed[] = {"train_clips_per_s", "peak_bytes", "trainable_parameters"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(peer, needed[i])))
            return err_set(err, "%s: its JSON has no number \"%s\"", peer_name, needed[i]);
    double ours_trainable = cJSON_GetObjectItemCaseSensitive(ours, "trainable_parameters")->valuedouble;
    double peer_trainable = cJSON_GetObjectItemCaseSensitive(peer, "trainable_parameters")->valuedouble;
    if (ours_trainable != peer_trainable)
        return err_set(err, "%s built another model: %.0f trainable parameters where dfer trains %.0f (its figures "
                            "are no comparison; tests/reference/bench_models.py)", peer_name, peer_trainable,
                       ours_trainable);
    cJSON_AddItemToObject(ours, "peer", cJSON_Duplicate(peer, 1));
    double oc = cJSON_GetObjectItemCaseSensitive(ours, "train_clips_per_s")->valuedouble;
    double pc = cJSON_GetObjectItemCaseSensitive(peer, "train_clips_per_s")->valuedouble;
    double oe = cJSON_GetObjectItemCaseSensitive(ours, "eval_clips_per_s")->valuedouble;
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(peer, "eval_clips_per_s");
    double om = cJSON_GetObjectItemCaseSensitive(ours, "peak_bytes")->valuedouble;
    double pm = cJSON_GetObjectItemCaseSensitive(peer, "peak_bytes")->valuedouble;
    cJSON *r = cJSON_AddObjectToObject(ours, "vs_peer");
    cJSON_AddNumberToObject(r, "train_speed_ratio", oc / pc);
    cJSON_AddItemToObject(r, "eval_speed_ratio", bench_number_or_null(oe / (cJSON_IsNumber(pe) ? pe->valuedouble : 1),
                                                             cJSON_IsNumber(pe) && pe->valuedouble > 0));
    cJSON_AddItemToObject(r, "peak_memory_ratio", bench_number_or_null(om / pm, pm > 0));
    return 0;
}

void bench_source_commit(char *buf, size_t n, int *dirty) {
    snprintf(buf, n, "%s", dfer_git_commit);
    *dirty = -1;
    char cmd[4300], line[256];
    char q[4200];
    shell_quote(q, sizeof q, DFER_SOURCE_DIR);
    snprintf(cmd, sizeof cmd, "git -C %s rev-parse --short HEAD 2>/dev/null", q);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (fgets(line, sizeof line, p)) {
            line[strcspn(line, "\n")] = 0;
            if (line[0]) snprintf(buf, n, "%s", line);
        }
        if (pclose(p) != 0) return;
    }
    snprintf(cmd, sizeof cmd, "git -C %s status --porcelain --untracked-files=no 2>/dev/null", q);
    p = popen(cmd, "r");
    if (p) {
        int any = fgets(line, sizeof line, p) != NULL;
        while (fgets(line, sizeof line, p)) {}
        if (pclose(p) == 0) *dirty = any;
    }
}

cJSON *bench_results_record(const cJSON *ours, const char *command) {
    const cJSON *peer = cJSON_GetObjectItemCaseSensitive(ours, "peer");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(ours, "vs_peer");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", jstr(ours, "device"));
    cJSON_AddStringToObject(o, "model", jstr(ours, "model"));
    cJSON_AddNumberToObject(o, "frames", jint(ours, "frames"));
    cJSON_AddNumberToObject(o, "batch", jint(ours, "batch"));
    cJSON_AddNumberToObject(o, "ours_clips_per_s",
                            cJSON_GetObjectItemCaseSensitive(ours, "train_clips_per_s")->valuedouble);
    cJSON_AddItemToObject(o, "pytorch_clips_per_s",
                          peer ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(peer, "train_clips_per_s"), 1)
                               : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "ratio", vs ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(vs, "train_speed_ratio"), 1)
                                         : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "ours_peak_gib", cJSON_GetObjectItemCaseSensitive(ours, "peak_gib")->valuedouble);
    cJSON_AddItemToObject(o, "pytorch_peak_gib",
                          peer ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(peer, "peak_gib"), 1)
                               : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "mfu", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ours, "mfu"), 1));
    char commit[64];
    int dirty;
    bench_source_commit(commit, sizeof commit, &dirty);
    cJSON_AddStringToObject(o, "commit", commit);
    cJSON_AddStringToObject(o, "command", command);
    /* more than the issue asks */
    if (dirty >= 0) cJSON_AddBoolToObject(o, "worktree_dirty", dirty);
    /* the commit this dfer was built from (commit is the source tree's now: a bundle copied onto a device may be
     * another), and the peer's sources by digest, so that a record names the code on both sides */
    cJSON_AddStringToObject(o, "build_commit", dfer_git_commit);
    if (peer) {
        cJSON *sources = cJSON_AddObjectToObject(o, "pytorch_sources");
        static const char *const scripts[] = {"bench_torch.py", "bench_models.py", "models_ref.py", "clip_ref.py"};
        for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
            char path[4096], hex[65];
            long long bytes;
            Err ignored;
            snprintf(path, sizeof path, "%s/tests/reference/%s", DFER_SOURCE_DIR, scripts[i]);
            if (file_sha256(path, hex, &bytes, &ignored) == 0) cJSON_AddStringToObject(sources, scripts[i], hex);
        }
    }
    cJSON_AddItemToObject(o, "memory_ratio",
                          vs ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(vs, "peak_memory_ratio"), 1)
                             : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "eval_ratio",
                          vs ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(vs, "eval_speed_ratio"), 1)
                             : cJSON_CreateNull());
    cJSON *goals = cJSON_AddObjectToObject(o, "goals");
    cJSON_AddStringToObject(goals, "ratio", ">= 2");
    cJSON_AddStringToObject(goals, "memory_ratio", "<= 0.6");
    cJSON_AddStringToObject(goals, "mfu", ">= 0.5");
    static const char *const copy[] = {"precision", "model_dtype", "attention_path", "adapter_path", "input_prefetch",
                                       "eval_clips_per_s", "split_s", "flops", "achieved_tflops", "peak_tflops",
                                       "peak_source", "peak_method", "eval_peak_gib", "eval_peak_method", "eval_mfu",
                                       "trainable_parameters", "optimizer", "steps", "warmup", "ranks", "text_tokens",
                                       /* how dfer fitted the step: a recompute level or micro-batches the planner
                                        * chose (train.recompute = auto) change what its memory and speed mean */
                                       "micro_batch", "accumulation", "recompute"};
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ours, copy[i]);
        if (v) cJSON_AddItemToObject(o, copy[i], cJSON_Duplicate(v, 1));
    }
    if (peer) cJSON_AddItemToObject(o, "pytorch", cJSON_Duplicate(peer, 1));
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(o, "date", date);
    return o;
}

/* ---- printing ----------------------------------------------------------------------------------- */

static double jnum(const cJSON *o, const char *k) { return json_get_number(o, k, NAN); }

/* "n/a" for a figure the run could not measure (null in the JSON: a CUDA context that the
 * memory samples did not see, for instance). */
static void fmt_mib(char *buf, size_t n, double bytes) {
    if (!isfinite(bytes)) snprintf(buf, n, "n/a");
    else if (bytes >= 1024.0 * 1024.0 * 1024.0) snprintf(buf, n, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    else snprintf(buf, n, "%.0f MiB", bytes / (1024.0 * 1024.0));
}

/* A row of the op profile: time per step, share of the step, calls, and TFLOP/s or GB/s. */
static void print_profile_row(const cJSON *row, FILE *out, int with_operands) {
    const cJSON *tf = cJSON_GetObjectItemCaseSensitive(row, "tflops"),
                *gb = cJSON_GetObjectItemCaseSensitive(row, "gb_per_s");
    char rate[32] = "";
    if (cJSON_IsNumber(tf)) snprintf(rate, sizeof rate, "%.1f TFLOP/s", tf->valuedouble);
    else if (cJSON_IsNumber(gb)) snprintf(rate, sizeof rate, "%.0f GB/s", gb->valuedouble);
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(row, "times_bound");
    char bound[16] = "";
    if (cJSON_IsNumber(tb)) snprintf(bound, sizeof bound, "%.1fx", tb->valuedouble);
    fprintf(out, "    %9.3f %5.1f%% %7.0f  %-16s %7s  %-*s%s%s\n", jnum(row, "ms_per_step"), 100 * jnum(row, "share"),
            jnum(row, "calls_per_step"), rate, bound, with_operands ? 26 : 0, jstr(row, "op"), with_operands ? " " : "",
            with_operands ? jstr(row, "operands") : "");
}

/* --profile-steps: the ops by time, then the 20 op-and-shape entries that took most. */
static void print_profile(const cJSON *p, FILE *out) {
    if (!p) return;
    fprintf(out, "  op profile over %d step%s (%s): wall %.3f ms/step, in ops %.3f, outside ops %.3f\n",
            jint(p, "steps"), jint(p, "steps") == 1 ? "" : "s", jstr(p, "method"), jnum(p, "wall_ms_per_step"),
            jnum(p, "ops_ms_per_step"), jnum(p, "outside_ops_ms_per_step"));
    const cJSON *bound = cJSON_GetObjectItemCaseSensitive(p, "bound_ms_per_step");
    if (cJSON_IsNumber(bound))
        fprintf(out,
                "  at the device's peaks (%s) the ops would take %.3f ms/step: \"bound\" is each one's time over its "
                "least (FLOPs at the tensor peak or bytes at the memory's, whichever is longer)\n",
                jstr(p, "bound_peaks"), bound->valuedouble);
    fprintf(out, "    %9s %6s %7s  %-16s %7s  %s\n", "ms/step", "share", "calls", "rate", "bound", "op");
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(p, "by_op")) print_profile_row(row, out, 0);
    fprintf(out, "    the 20 op-and-operand entries that took most:\n");
    int k = 0;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(p, "entries")) {
        if (k++ == 20) break;
        print_profile_row(row, out, 1);
    }
}

void bench_print(const cJSON *r, FILE *out) {
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(r, "split_s"),
                *fl = cJSON_GetObjectItemCaseSensitive(r, "flops");
    double step = jnum(r, "train_step_s");
    char mem[32];
    fmt_mib(mem, sizeof mem, jnum(r, "peak_bytes"));
    const char *attention_path = jstr(r, "attention_path"), *adapter_path = jstr(r, "adapter_path"); /* CUDA only */
    fprintf(out, "%s on %s (%s), precision %s (%s)%s%s%s%s\n", jstr(r, "model"), jstr(r, "device"), jstr(r, "backend"),
            jstr(r, "precision"), jstr(r, "model_dtype"), *attention_path ? ", attention path " : "", attention_path,
            *adapter_path ? ", adapters " : "", adapter_path);
    fprintf(out, "  %d frames, batch %d on %d rank%s (%d pass%s of %d clips, recompute %s), %.0f trainable "
                 "parameters, %s, %d timed steps after %d warm-up\n",
            jint(r, "frames"), jint(r, "batch"), jint(r, "ranks"), jint(r, "ranks") > 1 ? "s" : "",
            jint(r, "accumulation"), jint(r, "accumulation") > 1 ? "es" : "", jint(r, "micro_batch"),
            jstr(r, "recompute"), jnum(r, "trainable_parameters"), jstr(r, "optimizer"), jint(r, "steps"),
            jint(r, "warmup"));
    fprintf(out, "  train:  %.3f clips/s (median step %.4f s, best %.4f s)\n", jnum(r, "train_clips_per_s"), step,
            jnum(r, "train_step_min_s"));
    fprintf(out, "  eval:   %.3f clips/s (batch %d, forward only)\n", jnum(r, "eval_clips_per_s"),
            jint(r, "eval_batch"));
    const char *names[] = {"forward", "backward", "allreduce", "update"};
    fprintf(out, "  split:  data wait 0 (synthetic, resident batch)");
    for (int i = 0; i < 4; i++)
        fprintf(out, ", %s %.4f s (%.0f%%)", names[i], jnum(sp, names[i]), 100.0 * jnum(sp, names[i]) / step);
    fprintf(out, "\n  memory: training peak %s (%s)\n", mem, jstr(r, "peak_method"));
    char eval_mem[32];
    fmt_mib(eval_mem, sizeof eval_mem, jnum(r, "eval_peak_bytes"));
    char batches[64];
    if (jint(r, "eval_batch") != jint(r, "batch"))
        snprintf(batches, sizeof batches, "batches %d and %d", jint(r, "batch"), jint(r, "eval_batch"));
    else snprintf(batches, sizeof batches, "batch %d", jint(r, "batch"));
    fprintf(out, "          evaluation peak %s (forward-only passes at %s: %s)\n", eval_mem, batches,
            jstr(r, "eval_peak_method"));
    const cJSON *planned = cJSON_GetObjectItemCaseSensitive(r, "planned_bytes");
    if (cJSON_IsNumber(planned)) {
        char pl[32], ctx[32], un[32];
        fmt_mib(pl, sizeof pl, planned->valuedouble);
        fmt_mib(ctx, sizeof ctx, jnum(r, "cuda_context_bytes"));
        fmt_mib(un, sizeof un, jnum(r, "unplanned_bytes"));
        fprintf(out, "  planner: %s counted; CUDA context %s before the model; context + peak - counted = %s "
                     "(what the planner's %.1f GiB allowance for the runtime stands for)\n",
                pl, ctx, un, (double)PLAN_CUDA_RESERVE_BYTES / (1u << 30));
    }
    fprintf(out, "  FLOPs:  %.4g per step (forward %.4g, input gradients %.4g, weight gradients %.4g; run again, not "
                 "counted: %.4g); %.3f TFLOP/s\n",
            jnum(fl, "train_step"), jnum(fl, "forward"), jnum(fl, "backward_input"), jnum(fl, "backward_weight"),
            jnum(fl, "recompute"), jnum(r, "achieved_tflops"));
    const cJSON *mfu = cJSON_GetObjectItemCaseSensitive(r, "mfu");
    if (cJSON_IsNumber(mfu))
        fprintf(out, "  MFU:    %.1f%% of %s (eval %.1f%%)\n", 100 * mfu->valuedouble, jstr(r, "peak_source"),
                100 * jnum(r, "eval_mfu"));
    else
        fprintf(out, "  MFU:    n/a (%s)\n", strcmp(jstr(r, "device_kind"), "cuda") ? "CPU: no bf16 tensor-core peak"
                                                                                   : "unknown GPU: give --peak-tflops");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "peer"), *vs = cJSON_GetObjectItemCaseSensitive(r, "vs_peer");
    if (p && vs) {
        char pmem[32];
        fmt_mib(pmem, sizeof pmem, jnum(p, "peak_bytes"));
        fprintf(out, "  PyTorch %s (%s, %s): train %.3f clips/s, eval %.3f clips/s, peak %s\n", jstr(p, "version"),
                jstr(p, "dtype"), jstr(p, "mode"), jnum(p, "train_clips_per_s"), jnum(p, "eval_clips_per_s"), pmem);
        fprintf(out, "  ratio:  train %.2fx, eval %.2fx PyTorch's clips/s; peak memory %.2fx PyTorch's\n",
                jnum(vs, "train_speed_ratio"), jnum(vs, "eval_speed_ratio"), jnum(vs, "peak_memory_ratio"));
    }
    print_profile(cJSON_GetObjectItemCaseSensitive(r, "op_profile"), out);
}
