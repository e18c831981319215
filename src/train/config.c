#include "train/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "data/augment.h"
#include "io/ini_file.h"
#include "train/plan.h"

typedef enum { K_INT, K_FLOAT, K_STR, K_BOOL, K_FLOATS, K_INTS } KeyType;

typedef struct Key {
    const char *section, *name;
    KeyType type;
    size_t offset, count_offset, size;
    const char *def;     /* default, as written in an INI file */
    const char *choices; /* "a|b|c" for strings with fixed values, or NULL */
    const char *help;
} Key;

#define S(field) offsetof(Config, field), 0, sizeof(((Config *)0)->field)
#define L(field, count) offsetof(Config, field), offsetof(Config, count), sizeof(((Config *)0)->field)

static const Key k_keys[] = {
    {"model", "method", K_STR, S(method), "finecliper", "finecliper|dfer_clip", "which model to train"},
    {"model", "variant", K_STR, S(variant), "low", "low|low+mid|low+high|low+mid+high|mid|high|mid+high",
     "FineCLIPER's levels: frames (low), + parsing maps and landmarks (mid), + descriptions (high); mid, high "
     "and mid+high leave the frames out (paper Tab. 4's Middle-level Only and High-level Only)"},
    {"model", "weights", K_STR, S(weights), "", NULL, "CLIP checkpoint (safetensors, OpenAI .pt, Long-CLIP .pt)"},
    {"model", "vocab", K_STR, S(vocab), "", NULL,
     "CLIP BPE vocabulary; empty: bpe_simple_vocab_16e6.txt.gz (or Hugging Face's merges.txt) "
     "beside the weights, else $DFER_VOCAB"},
    {"model", "temperature", K_FLOAT, S(temperature), "0.01", NULL, "FineCLIPER: logits = PN score / temperature"},
    {"model", "mlp_adapter_scale", K_FLOAT, S(mlp_adapter_scale), "0.5", NULL,
     "FineCLIPER: scale s of the MLP adapter (paper Tab. 9)"},
    {"model", "bottleneck_divisor", K_INT, S(bottleneck_divisor), "4", NULL,
     "adapter hidden width = tower width / divisor (0.25 x width)"},
    {"model", "mid_high_bottleneck_divisor", K_INT, S(mid_high_bottleneck_divisor), "0", NULL,
     "FineCLIPER: the divisor of the middle level's AIM adapters and the description tower's adapters (0: "
     "model.bottleneck_divisor). 8 gives the paper's tunable-parameter counts on ViT-B/16 (13.8, 19.7, 14.9, 20.8 M "
     "for low, low+mid, low+high, all against its 13, 19, 14, 20; 4: 25.0, 15.7, 26.9): configs/paper sets it"},
    {"model", "negative", K_STR, S(negative), "no", "no|less|none",
     "FineCLIPER negative descriptors: \"... of no {class}.\", \"... of less {class}.\", or none (positives only)"},
    {"model", "prompt", K_STR, S(prompt), "A person with an expression of {class}.", NULL,
     "FineCLIPER positive prompt template"},
    {"model", "mid_streams", K_STR, S(mid_streams), "parsing+landmarks", "parsing+landmarks|parsing|landmarks",
     "FineCLIPER middle level (variants with mid): which face-structure maps go through the shared encoder "
     "(paper Tab. 5)"},
    {"model", "descriptions", K_STR, S(descriptions), "", NULL,
     "FineCLIPER high level: per-clip descriptions (JSONL {\"clip\",\"text\"} or TSV); empty: "
     "<data.root>/dfer_prep/descriptions.jsonl (`dfer prep` writes it; data.dataset = list: dfer_prep beside "
     "data.train_list)"},
    {"model", "long_clip", K_STR, S(long_clip), "", NULL,
     "FineCLIPER high level: Long-CLIP checkpoint for the description encoder (248 positions); empty: the CLIP's "
     "own text tower with its positions stretched to 248 as Long-CLIP initialises them"},
    {"model", "fusion_weights", K_STR, S(fusion_weights), "softmax", "softmax|sum|uniform|fixed",
     "FineCLIPER: how the per-modality confidences (max PN score) become weights (our reading of eq. 9), or fixed "
     "weights whatever the confidences (model.fusion_video_weight; the paper's Fig. 8)"},
    {"model", "fusion_video_weight", K_FLOAT, S(fusion_video_weight), "0.5", NULL,
     "FineCLIPER, fusion_weights = fixed (a variant with the low level): the video feature's weight, from 0 to 1; "
     "the other modalities share the rest evenly (the paper's Fig. 8: 0.1 to 0.9 over four modalities)"},
    {"model", "fusion_temperature", K_FLOAT, S(fusion_temperature), "1", NULL,
     "FineCLIPER, fusion_weights = softmax: the weights are softmax(confidence / this) over the modalities. 1 (our "
     "reading of eq. 9) keeps them near uniform, the confidences being cosines that differ by 0.01-0.1; "
     "model.temperature's value makes them the softmax of each modality's top logit; smaller is sharper"},
    {"model", "fusion_loss", K_STR, S(fusion_loss), "modalities", "modalities|fused|both",
     "FineCLIPER: weighted per-modality cross-entropies (eq. 11 as we read it), the fused prediction's, or both"},
    {"model", "class_prompts", K_STR, S(class_prompts), "pn", "pn|emoclip",
     "FineCLIPER class texts: PN descriptors from model.prompt, or EmoCLIP's class descriptions (positives only; "
     "the zero-shot protocol)"},
    {"model", "video_adapters", K_BOOL, S(video_adapters), "true", NULL, "FineCLIPER: AIM adapters in the ViT"},
    {"model", "text_adapters", K_BOOL, S(text_adapters), "true", NULL, "FineCLIPER: adapters after each text block"},
    {"model", "contexts", K_INT, S(contexts), "8", NULL,
     "DFER-CLIP: learnable context tokens per class (M, 0 to 32; 0: none, the class texts alone, as the paper's "
     "Tab. 3 hand-made prompts)"},
    {"model", "logit_scale", K_FLOAT, S(logit_scale), "100", NULL,
     "DFER-CLIP: logits = scale * cos (its value, 100, suits a pretrained CLIP; a random one trains better with ~10)"},
    {"model", "class_text", K_STR, S(class_text), "descriptor", "descriptor|name|name_with_context|photo_of_name",
     "DFER-CLIP: what follows the contexts: its class descriptors, the class name (\"happiness.\"), \"an expression "
     "of happiness.\" or \"a photo of happiness.\" (the paper's Tab. 3)"},
    {"model", "context_position", K_STR, S(context_position), "end", "end|middle",
     "DFER-CLIP: the learnable contexts all before the class text (end: the class text ends the prompt), or half "
     "before and half after it (middle, CoOp's; the paper's Tab. 4)"},
    {"model", "class_specific_contexts", K_BOOL, S(class_specific_contexts), "true", NULL,
     "DFER-CLIP: M learnable contexts for each class, or one set shared by all classes (false; the paper's Tab. 4)"},
    {"model", "temporal_layers", K_INT, S(temporal_layers), "1", NULL,
     "DFER-CLIP: the temporal transformer's depth (0 to 6; the paper's Tab. 1); 0: no temporal model, the video "
     "feature is the mean of the frames' features (our reading of the paper's \"w/o TM\")"},
    {"model", "train_image_encoder", K_BOOL, S(train_image_encoder), "true", NULL,
     "DFER-CLIP: fine-tune the whole image encoder"},
    {"model", "dtype", K_STR, S(dtype), "auto", "auto|f32|bf16|f64",
     "precision: bf16 = mixed (BF16 frozen weights and activations, F32 parameters, gradients and optimiser "
     "state); auto = bf16 on CUDA, f32 on the CPU; f64 (CPU) for parity checks"},
    {"data", "dataset", K_STR, S(dataset), "dfew", "dfew|ferv39k|mafw|list", "dataset layout"},
    {"data", "root", K_STR, S(root), "", NULL, "dataset root directory"},
    {"data", "train_list", K_STR, S(train_list), "", NULL, "dataset = list: DFER-CLIP-style training list"},
    {"data", "test_list", K_STR, S(test_list), "", NULL, "dataset = list: DFER-CLIP-style test list"},
    {"data", "fold", K_INT, S(fold), "1", NULL, "fold 1..5 (DFEW, MAFW); ignored for FERV39k"},
    {"data", "eval_folds", K_INTS, L(eval_folds, n_eval_folds), "", NULL,
     "zero-shot transfer (a matrix's zeroshot:A->B jobs, `dfer eval --dataset`): the folds of B whose test splits "
     "are evaluated, each scored alone and UAR/WAR averaged over them, as the five-fold protocol reports (the "
     "matrix sets its folds); empty: one fold's. A run tested on its own dataset refuses it (its other folds' "
     "test clips are in its training split)"},
    {"data", "frames", K_INT, S(frames), "16", NULL, "frames per clip (temporal segments)"},
    {"data", "normalise", K_STR, S(normalise), "auto", "auto|clip|raw",
     "pixel normalisation: the method's own (auto: CLIP mean/std for FineCLIPER, raw [0,1] for DFER-CLIP), or forced"},
    {"data", "uint8_frames", K_STR, S(uint8_frames), "auto", "auto|on|off",
     "the loader hands frames (and FineCLIPER's maps) over as uint8 pixels, a quarter of the bytes to copy, and the "
     "model normalises them on the device (data.normalise's mean/std; the same values as off, bitwise in F32); "
     "auto: on for train.device = cuda, off on the CPU. `dfer predict` always prepares floats"},
    {"data", "device_prefetch", K_STR, S(device_prefetch), "auto", "auto|off",
     "auto: with uint8 frames on CUDA, the next batch's pixels (and maps) are copied to the GPU on a second stream "
     "while the current batch computes, from two device buffers of a batch's pixels each (`dfer plan` counts them); "
     "off: each pass uploads its pixels when it starts. The same results either way"},
    {"data", "landmarks", K_STR, S(landmarks), "", NULL,
     "FineCLIPER middle level: per-clip landmark tracks <dir>/<clip id>.txt; empty: <data.root>/dfer_prep/landmarks "
     "(data.dataset = list: dfer_prep/landmarks beside data.train_list)"},
    {"data", "parsing", K_STR, S(parsing), "", NULL,
     "FineCLIPER middle level: external parsing index maps <dir>/<clip id>/<frame>.png; empty: rendered from "
     "the landmarks"},
    {"data", "loader_threads", K_INT, S(loader_threads), "2", NULL, "decoding threads per rank"},
    {"data", "max_bad_fraction", K_FLOAT, S(max_bad_fraction), "0.05", NULL,
     "stop when more than this share of clips cannot be read"},
    {"data", "crop_min_area", K_FLOAT, S(crop_min_area), "0.08", NULL,
     "training crops cover U[this, 1] of the frame's area (DFER-CLIP: 0.08); larger is gentler"},
    {"data", "augment", K_STR, S(augment), "auto", "auto|" AUGMENT_PRESETS,
     "training augmentation, DFER-CLIP's per dataset: random sized crop and flip for all, with brightness jitter "
     "(DFEW) or a rotation of up to 4 degrees (FERV39k); auto: the dataset's own (a list gets crop and flip only, "
     "as MAFW)"},
    {"data", "classes", K_INT, S(classes), "0", NULL,
     "dataset = list: the classes the model outputs, 7 (happiness .. fear) or 11 (.. disappointment, MAFW's "
     "four more); 0: 11 when a training label is 7 or more, else 7"},
    {"data", "captions", K_STR, S(captions), "auto", "auto|dataset|descriptions",
     "contrastive training: the dataset's own captions (MAFW), the per-clip descriptions (model.descriptions), or "
     "auto (captions where the dataset has them); a matrix's zeroshot:A->B/CAPTIONS sets it for that setting's jobs"},
    {"train", "objective", K_STR, S(objective), "supervised", "supervised|contrastive",
     "supervised: cross-entropy on the labels; contrastive: symmetric InfoNCE of videos against their captions over "
     "the global batch (the zero-shot setting; FineCLIPER low level)"},
    {"train", "epochs", K_INT, S(epochs), "30", NULL, "training epochs"},
    {"train", "batch", K_INT, S(batch), "32", NULL, "global batch size in clips (split over ranks)"},
    {"train", "eval_batch", K_INT, S(eval_batch), "32", NULL, "evaluation batch size in clips"},
    {"train", "seed", K_INT, S(seed), "1", NULL, "seed of initialisation, sampling and augmentation"},
    {"train", "device", K_STR, S(device), "auto", "auto|cpu|cuda",
     "compute device; auto: the GPU when every node of the job has one for each of its ranks, else the CPU "
     "(rank 0 says why when some node has a GPU)"},
    {"train", "gpu_mem", K_FLOAT, S(gpu_mem), "24", NULL,
     "GiB of GPU memory per rank: the memory planner's cap (`dfer plan`), enforced by the allocator"},
    {"train", "micro_batch", K_INT, S(micro_batch), "0", NULL,
     "clips per forward/backward pass, gradients accumulated over the rank's share of the batch "
     "(0: the planner's choice under train.gpu_mem on CUDA, the whole share on the CPU); `dfer eval` and "
     "`dfer predict` on CUDA plan their forward-only passes under train.gpu_mem instead (`dfer plan --eval`)"},
    {"train", "recompute", K_STR, S(recompute), "auto", "auto|none|qkv|qkv-fc1|blocks",
     "what the ViT blocks' backward (FineCLIPER's streams, DFER-CLIP's image encoder) computes again instead of "
     "keeping, for larger micro-batches: the attentions' qkv (qkv: FineCLIPER's frozen AIM blocks keep 40% less at "
     "6 W^2 multiply-adds a token more, about a fifth of their training products; DFER-CLIP's trained blocks 19% "
     "less at 3 W^2, a twelfth), also the MLP's fc1 output (qkv-fc1: 67% less at 10 W^2; DFER-CLIP 44% at 7 W^2), "
     "or everything but each block's input (blocks: one more ViT forward per step); auto: the planner's choice on "
     "CUDA (the cheapest that leaves an efficient micro-batch), none on the CPU"},
    {"train", "threads", K_INT, S(threads), "0", NULL,
     "CPU threads per rank (0: the node's cores shared among its ranks, at most those the rank may run on)"},
    {"train", "nonfinite", K_STR, S(nonfinite), "skip", "skip|abort",
     "what a NaN/Inf loss or gradient does: skip the update, or stop the run"},
    {"train", "hang_minutes", K_FLOAT, S(hang_minutes), "30", NULL,
     "a rank that makes no progress (a step, an evaluation batch, a checkpoint) for this long says where it waits "
     "and exits with status 4, instead of waiting until the allocation ends (a dead or stopped rank, a GPU, network "
     "or file system that does not answer); the limit grows to 10 times the longest step seen; 0: off"},
    {"train", "log_every", K_INT, S(log_every), "10", NULL, "progress line every N steps"},
    {"train", "max_steps_per_epoch", K_INT, S(max_steps_per_epoch), "0", NULL,
     "cap on steps per epoch (0: the whole training split)"},
    {"optim", "optimizer", K_STR, S(optimizer), "sgd", "sgd|adamw", "optimiser"},
    {"optim", "lr", K_FLOATS, L(lr, n_lr), "0.01", NULL,
     "learning rate per parameter group (one value: all groups); FineCLIPER groups: video, text; "
     "DFER-CLIP: image_encoder, temporal_net, prompt_learner"},
    {"optim", "weight_decay", K_FLOAT, S(weight_decay), "0.0001", NULL, "weight decay"},
    {"optim", "momentum", K_FLOAT, S(momentum), "0.9", NULL, "SGD momentum"},
    {"optim", "schedule", K_STR, S(schedule), "cosine", "multistep|cosine|constant", "learning-rate schedule"},
    {"optim", "milestones", K_INTS, L(milestones, n_milestones), "30,40", NULL, "multistep: epochs where lr *= gamma"},
    {"optim", "gamma", K_FLOAT, S(gamma), "0.1", NULL, "multistep factor"},
    {"optim", "warmup_epochs", K_FLOAT, S(warmup_epochs), "0", NULL,
     "linear warm-up from 0, in epochs (every schedule; cosine then decays over the rest)"},
    {"optim", "clip_norm", K_FLOAT, S(clip_norm), "0", NULL, "clip gradients to this global norm (0: off)"},
};
#define N_KEYS (sizeof k_keys / sizeof k_keys[0])

static const Key *find_key(const char *section, const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(k_keys[i].section, section) && !strcmp(k_keys[i].name, name)) return &k_keys[i];
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off")) *out = 0;
    else return -1;
    return 0;
}

static int in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* A whole decimal number that fits an int (no overflow wrapping "4294967312" to 16). */
static int parse_int(const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno == ERANGE || x < INT_MIN || x > INT_MAX) return -1;
    *out = (int)x;
    return 0;
}

/* A finite number: NaN and infinities pass every "x <= 0" check and poison a run later. */
static int parse_float(const char *v, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (!*v || *end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

/* Sets one key from its text; the message says what was expected. */
static int set_value(Config *c, const Key *k, const char *v, Err *err) {
    char *base = (char *)c;
    char *end;
    switch (k->type) {
    case K_INT: {
        int x;
        if (parse_int(v, &x) != 0)
            return err_set(err, "%s.%s = '%s' is not an integer (within ±2147483647)", k->section, k->name, v);
        *(int *)(base + k->offset) = x;
        return 0;
    }
    case K_FLOAT: {
        float x;
        if (parse_float(v, &x) != 0) return err_set(err, "%s.%s = '%s' is not a finite number", k->section, k->name, v);
        *(float *)(base + k->offset) = x;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(v, (int *)(base + k->offset)) != 0)
            return err_set(err, "%s.%s = '%s' is not true or false", k->section, k->name, v);
        return 0;
    case K_STR:
        if (k->choices && !in_choices(k->choices, v))
            return err_set(err, "%s.%s = '%s' is not one of %s", k->section, k->name, v, k->choices);
        if (strlen(v) >= k->size)
            return err_set(err, "%s.%s is too long (%zu characters; at most %zu)", k->section, k->name, strlen(v),
                           k->size - 1);
        /* a run keeps its configuration as an INI file (config.ini), read back on resume and by eval */
        const char *unsafe = ini_value_unsafe(v);
        if (unsafe) return err_set(err, "%s.%s = '%s': %s", k->section, k->name, v, unsafe);
        strcpy(base + k->offset, v);
        return 0;
    case K_FLOATS:
    case K_INTS: {
        char buf[CFG_STR], *save = NULL;
        if (strlen(v) >= sizeof buf) return err_set(err, "%s.%s is too long", k->section, k->name);
        strcpy(buf, v);
        int n = 0;
        /* split at every comma (strtok took "0.1,,0.2" for two values and "0.1," for one): a blank value is an
         * error, a blank list none */
        int blank = buf[strspn(buf, " \t")] == 0;
        for (char *tok = blank ? NULL : buf; tok; tok = save) {
            save = strchr(tok, ',');
            if (save) *save++ = 0;
            while (*tok == ' ' || *tok == '\t') tok++;
            for (end = tok + strlen(tok); end > tok && (end[-1] == ' ' || end[-1] == '\t');) *--end = 0;
            if (!*tok) return err_set(err, "%s.%s = '%s': a blank value between commas", k->section, k->name, v);
            if (n == CFG_LIST) return err_set(err, "%s.%s has more than %d values", k->section, k->name, CFG_LIST);
            int bad = k->type == K_FLOATS ? parse_float(tok, &((float *)(base + k->offset))[n])
                                          : parse_int(tok, &((int *)(base + k->offset))[n]);
            if (bad)
                return err_set(err, "%s.%s = '%s': '%s' is not a %s", k->section, k->name, v, tok,
                               k->type == K_FLOATS ? "finite number" : "whole number");
            n++;
        }
        if (k->type == K_FLOATS && n == 0) return err_set(err, "%s.%s needs at least one value", k->section, k->name);
        *(int *)(base + k->count_offset) = n;
        return 0;
    }
    }
    return -1;
}

void config_prep_path(const Config *c, const char *configured, const char *name, char *out, size_t n) {
    if (configured[0]) {
        snprintf(out, n, "%s", configured);
    } else if (!strcmp(c->dataset, "list")) { /* `dfer prep --dataset list --root LIST` writes beside LIST */
        const char *slash = strrchr(c->train_list, '/');
        if (!slash) snprintf(out, n, DFER_PREP_DIR "/%s", name);
        else snprintf(out, n, "%.*s/" DFER_PREP_DIR "/%s", (int)(slash - c->train_list), c->train_list, name);
    } else {
        snprintf(out, n, "%s/" DFER_PREP_DIR "/%s", c->root, name);
    }
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    Err err;
    for (size_t i = 0; i < N_KEYS; i++) CHECK(set_value(c, &k_keys[i], k_keys[i].def, &err) == 0, "%s", err.msg);
}

_Static_assert(N_KEYS <= CFG_MAX_KEYS, "Config.origin has no room for every key: raise CFG_MAX_KEYS");

/* Records where key k's value came from; a longer text keeps its end (the file's name and line) after "...". */
static void set_origin(Config *c, const Key *k, const char *origin) {
    char *out = c->origin[k - k_keys];
    size_t len = strlen(origin);
    if (len < CFG_ORIGIN) memcpy(out, origin, len + 1);
    else snprintf(out, CFG_ORIGIN, "...%s", origin + len - (CFG_ORIGIN - 4));
}

int config_set_key(Config *c, const char *section, const char *name, const char *value, const char *origin, Err *err) {
    const Key *k = find_key(section, name);
    if (!k) return err_set(err, "unknown key %s.%s", section[0] ? section : "(no section)", name);
    if (set_value(c, k, value, err) != 0) return -1;
    if (origin) set_origin(c, k, origin);
    return 0;
}

typedef struct FileLoad {
    Config *c;
    const char *path;
} FileLoad;

static int on_config_key(void *user, int line, const char *section, const char *name, const char *value, Err *err) {
    const FileLoad *load = user;
    char origin[4200];
    snprintf(origin, sizeof origin, "%s:%d", load->path, line);
    return config_set_key(load->c, section, name, value, origin, err);
}

int config_load_file(Config *c, const char *path, Err *err) {
    FileLoad load = {c, path};
    static const char *const sections[] = {"model", "data", "train", "optim", NULL};
    return ini_file_load(path, "configuration file", NULL, sections, on_config_key, &load, err);
}

int config_set_from(Config *c, const char *assignment, const char *origin, Err *err) {
    const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq)
        return err_set(err, "%s '%s': expected section.key=value (e.g. train.epochs=5)", origin, assignment);
    char section[64], name[64];
    size_t sl = (size_t)(dot - assignment), nl = (size_t)(eq - dot - 1);
    if (sl >= sizeof section || nl >= sizeof name) return err_set(err, "%s '%s': key too long", origin, assignment);
    memcpy(section, assignment, sl);
    section[sl] = 0;
    memcpy(name, dot + 1, nl);
    name[nl] = 0;
    const Key *k = find_key(section, name);
    if (!k) return err_set(err, "%s '%s': unknown key %s.%s", origin, assignment, section, name);
    if (set_value(c, k, eq + 1, err) != 0) return err_prefix(err, "%s: ", origin);
    set_origin(c, k, origin);
    return 0;
}

int config_set(Config *c, const char *assignment, Err *err) { return config_set_from(c, assignment, "--set", err); }

const char *config_key_choices(const char *section, const char *name) {
    const Key *k = find_key(section, name);
    return k ? k->choices : NULL;
}

int config_choice_is(const char *choices, const char *value) { return choices && in_choices(choices, value); }

const char *config_unbuilt(const Config *c) {
#ifndef DFER_WITH_CUDA
    if (!strcmp(c->device, "cuda")) return "train.device = cuda: this dfer was built without CUDA (use cpu or auto)";
#endif
    if (!strcmp(c->device, "cuda") && !strcmp(c->dtype, "f64"))
        return "model.dtype = f64 runs on the CPU only (train.device = cpu)";
    return NULL;
}

/* Whether msg names key as a whole key ("model.bottleneck_divisor" is not in "model.mid_high_bottleneck_divisor");
 * where, or -1. */
static long key_named_at(const char *msg, const char *key) {
    size_t len = strlen(key);
    for (const char *at = strstr(msg, key); at; at = strstr(at + 1, key)) {
        char before = at > msg ? at[-1] : ' ', after = at[len];
        if (!isalnum((unsigned char)before) && before != '_' && before != '.' && !isalnum((unsigned char)after) &&
            after != '_')
            return at - msg;
    }
    return -1;
}

int config_error_origins(const Config *c, Err *err) {
    enum { MAX_NAMED = 6 };
    long at[MAX_NAMED];
    size_t key[MAX_NAMED];
    int named = 0;
    for (size_t i = 0; i < N_KEYS && named < MAX_NAMED; i++) {
        char name[80];
        snprintf(name, sizeof name, "%s.%s", k_keys[i].section, k_keys[i].name);
        long pos = c->origin[i][0] ? key_named_at(err->msg, name) : -1;
        if (pos < 0) continue;
        int j = named++; /* in the order the message names them */
        for (; j > 0 && at[j - 1] > pos; j--) at[j] = at[j - 1], key[j] = key[j - 1];
        at[j] = pos, key[j] = i;
    }
    if (!named) return -1;
    char where[2048];
    size_t used = 0;
    for (int j = 0; j < named && used < sizeof where; j++)
        used += (size_t)snprintf(where + used, sizeof where - used, "%s%s.%s from %s", j ? "; " : "",
                                 k_keys[key[j]].section, k_keys[key[j]].name, c->origin[key[j]]);
    return err_suffix(err, " (%s)", where);
}

static int check_settings(const Config *c, Err *err);

int config_validate(const Config *c, Err *err) {
    if (!c->weights[0])
        return err_set(err, "model.weights is not set (a CLIP checkpoint; `dfer init` makes a random one)");
    if (!c->root[0] && strcmp(c->dataset, "list"))
        return err_set(err, "data.root is not set (the dataset directory)");
    if (!strcmp(c->dataset, "list") && (!c->train_list[0] || !c->test_list[0]))
        return err_set(err, "data.dataset = list needs data.train_list and data.test_list");
    if (check_settings(c, err) != 0) return config_error_origins(c, err);
    const char *unbuilt = config_unbuilt(c);
    if (!unbuilt) return 0;
    err_set(err, "%s", unbuilt);
    return config_error_origins(c, err);
}

/* Appends "key=value" of each item that counts and differs from the paper's value. */
typedef struct AblationItem {
    const char *key, *value, *paper;
    int counts;
} AblationItem;

static void ablation_items(const AblationItem *items, size_t count, char *out, size_t n) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (!items[i].counts || !strcmp(items[i].value, items[i].paper)) continue;
        int w = snprintf(out + used, n - used, "%s%s=%s", used ? ", " : "", items[i].key, items[i].value);
        CHECK(w > 0 && (size_t)w < n - used, "config_ablation: %zu bytes are too few", n);
        used += (size_t)w;
    }
}

void config_ablation(const Config *c, char *out, size_t n) {
    out[0] = '\0';
    if (!strcmp(c->method, "dfer_clip")) {
        /* DFER-CLIP's Tables 1, 3 and 4, in their order; where and how the contexts sit counts with contexts */
        char layers[16], contexts[16];
        snprintf(layers, sizeof layers, "%d", c->temporal_layers);
        snprintf(contexts, sizeof contexts, "%d", c->contexts);
        const AblationItem items[] = {
            {"temporal_layers", layers, "1", 1},
            {"contexts", contexts, "8", 1},
            {"class_text", c->class_text, "descriptor", 1},
            {"context_position", c->context_position, "end", c->contexts > 0},
            {"class_specific_contexts", c->class_specific_contexts ? "true" : "false", "true", c->contexts > 0}};
        ablation_items(items, sizeof items / sizeof items[0], out, n);
        return;
    }
    if (strcmp(c->method, "finecliper")) return;
    int low = !strncmp(c->variant, "low", 3), mid = strstr(c->variant, "mid") != NULL;
    int maps = !mid ? 0 : !strcmp(c->mid_streams, "parsing+landmarks") ? 2 : 1;
    int fused = low + maps + (strstr(c->variant, "high") != NULL) > 1; /* weights of two modalities or more */
    int fixed = !strcmp(c->fusion_weights, "fixed");
    char scale[32], video_weight[32];
    snprintf(scale, sizeof scale, "%g", (double)c->mlp_adapter_scale);
    snprintf(video_weight, sizeof video_weight, "%g", (double)c->fusion_video_weight);
    /* in the order of the paper's tables; each with the full model's value (config.c's defaults) */
    const AblationItem items[] = {{"mid_streams", c->mid_streams, "parsing+landmarks", mid},
                 {"negative", c->negative, "no", 1},
                 {"text_adapters", c->text_adapters ? "true" : "false", "true", 1},
                 {"video_adapters", c->video_adapters ? "true" : "false", "true", low},
                 {"mlp_adapter_scale", scale, "0.5", 1},
                 {"fusion_weights", c->fusion_weights, "softmax", fused},
                 {"fusion_video_weight", video_weight, "", fused && fixed}};
    ablation_items(items, sizeof items / sizeof items[0], out, n);
}

const char *config_caution(const Config *c, char *buf, size_t n) {
    if (strcmp(c->method, "dfer_clip")) return NULL;
    if (!c->train_image_encoder && strcmp(c->recompute, "auto") && strcmp(c->recompute, "none")) {
        snprintf(buf, n, "train.recompute = %s does nothing here: the frozen image encoder "
                 "(model.train_image_encoder = false) is crossed by no backward and keeps none of its blocks' "
                 "activations", c->recompute);
        return buf;
    }
    if (!c->train_image_encoder || c->n_lr < 1 || c->lr[0] < 1e-3f) return NULL;
    snprintf(buf, n, "DFER-CLIP fine-tunes its pretrained image encoder at optim.lr = %g%s, a rate that can wreck "
             "CLIP's features: DFER-CLIP's paper trains it at 1e-5 (configs/paper/dfer_clip.ini: optim.lr = 1e-5, "
             "1e-2, 1e-3 for image_encoder, temporal_net, prompt_learner)%s", c->lr[0],
             c->n_lr == 1 ? " (one rate for every group)" : "",
             c->n_lr == 1 && c->lr[0] == 0.01f ? "; 0.01 is the default, FineCLIPER's" : "");
    return buf;
}

int config_param_groups(const char *method, const char *names[3]) {
    if (!strcmp(method, "finecliper")) {
        names[0] = "video", names[1] = "text", names[2] = NULL;
        return 2;
    }
    names[0] = "image_encoder", names[1] = "temporal_net", names[2] = "prompt_learner";
    return 3;
}

int config_validate_settings(const Config *c, Err *err) {
    return check_settings(c, err) == 0 ? 0 : config_error_origins(c, err);
}

static int check_settings(const Config *c, Err *err) {
    if (!strcmp(c->objective, "contrastive") && strcmp(c->method, "finecliper"))
        return err_set(err, "train.objective = contrastive (the zero-shot setting) is built for FineCLIPER, not "
                            "model.method = %s", c->method);
    if (!strcmp(c->objective, "contrastive") && strcmp(c->variant, "low"))
        return err_set(err, "train.objective = contrastive trains FineCLIPER's low level (model.variant = low, not %s)",
                       c->variant);
    if (c->frames < 1 || c->frames > 256) return err_set(err, "data.frames = %d is out of range (1..256)", c->frames);
    if (c->epochs < 1) return err_set(err, "train.epochs = %d must be at least 1", c->epochs);
    if (!(c->crop_min_area > 0 && c->crop_min_area <= 1))
        return err_set(err, "data.crop_min_area = %g is out of range (0, 1]", c->crop_min_area);
    if (c->classes != 0 && c->classes != 7 && c->classes != 11)
        return err_set(err, "data.classes = %d: a list has 7 or 11 classes (0: from its labels)", c->classes);
    if (c->classes && strcmp(c->dataset, "list"))
        return err_set(err, "data.classes = %d is for data.dataset = list (%s has %d classes)", c->classes, c->dataset,
                       strcmp(c->dataset, "mafw") ? 7 : 11);
    if (c->batch < 1 || c->eval_batch < 1) return err_set(err, "train.batch and train.eval_batch must be positive");
    /* a batch's clips are decoded into host buffers whole: 2^31 clips was an allocation of petabytes that failed
     * without naming the key (the largest dataset here, FERV39k, has 31,088 training clips) */
    enum { MAX_BATCH = 65536 };
    if (c->batch > MAX_BATCH || c->eval_batch > MAX_BATCH)
        return err_set(err, "train.%s = %d: at most %d clips a batch", c->batch > MAX_BATCH ? "batch" : "eval_batch",
                       c->batch > MAX_BATCH ? c->batch : c->eval_batch, MAX_BATCH);
    if (!(c->hang_minutes >= 0))
        return err_set(err, "train.hang_minutes = %g must be 0 (off) or a positive number of minutes", c->hang_minutes);
    if (c->micro_batch < 0 || !(c->gpu_mem > 0))
        return err_set(err, "train.micro_batch must be 0 or positive and train.gpu_mem positive");
    if (!strcmp(c->device, "cuda") && !(c->gpu_mem * (double)(1u << 30) > (double)PLAN_CUDA_RESERVE_BYTES))
        return err_set(err, "train.gpu_mem = %g GiB leaves nothing beside the %.0f GiB the CUDA runtime is allowed "
                            "(src/train/plan.h): give more", c->gpu_mem, (double)PLAN_CUDA_RESERVE_BYTES / (1u << 30));
    if (c->micro_batch > 0 && !strcmp(c->objective, "contrastive"))
        return err_set(err, "train.micro_batch: contrastive training needs every clip of the step at once "
                            "(the InfoNCE loss is over the whole global batch)");
    if (c->temperature <= 0) return err_set(err, "model.temperature must be positive");
    if (!(c->fusion_temperature > 0)) return err_set(err, "model.fusion_temperature must be positive");
    if (!strcmp(c->fusion_weights, "fixed") && !strstr(c->variant, "low"))
        return err_set(err, "model.fusion_weights = fixed weighs the video feature (model.fusion_video_weight): the "
                            "variant %s has none", c->variant);
    if (!(c->fusion_video_weight >= 0 && c->fusion_video_weight <= 1))
        return err_set(err, "model.fusion_video_weight = %g is not a weight from 0 to 1", c->fusion_video_weight);
    if (c->logit_scale <= 0) return err_set(err, "model.logit_scale must be positive");
    if (c->bottleneck_divisor < 1) return err_set(err, "model.bottleneck_divisor must be at least 1");
    if (c->mid_high_bottleneck_divisor < 0)
        return err_set(err, "model.mid_high_bottleneck_divisor must be 0 (model.bottleneck_divisor) or at least 1");
    if (c->contexts < 0 || c->contexts > 32)
        return err_set(err, "model.contexts = %d is out of range (0..32)", c->contexts);
    if (c->temporal_layers < 0 || c->temporal_layers > 6)
        return err_set(err, "model.temporal_layers = %d is out of range (0..6)", c->temporal_layers);
    if (strcmp(c->dataset, "ferv39k") && strcmp(c->dataset, "list") && (c->fold < 1 || c->fold > 5))
        return err_set(err, "data.fold = %d: %s has folds 1..5", c->fold, c->dataset);
    for (int i = 0; i < c->n_eval_folds; i++) {
        if (c->eval_folds[i] < 1 || c->eval_folds[i] > 5)
            return err_set(err, "data.eval_folds: fold %d is not one of 1..5", c->eval_folds[i]);
        for (int j = 0; j < i; j++)
            if (c->eval_folds[j] == c->eval_folds[i])
                return err_set(err, "data.eval_folds names fold %d twice", c->eval_folds[i]);
    }
    for (int i = 0; i < c->n_lr; i++)
        if (c->lr[i] < 0) return err_set(err, "optim.lr value %d is negative", i + 1);
    /* one learning rate for every parameter group, or one per group (a list of another length used to be
     * cut or padded with its last value without a word) */
    const char *names[3];
    int groups = config_param_groups(c->method, names);
    if (c->n_lr != 1 && c->n_lr != groups)
        return err_set(err, "optim.lr has %d values: give one, or one per parameter group of %s (%s%s%s%s%s)", c->n_lr,
                       c->method, names[0], ", ", names[1], groups > 2 ? ", " : "", groups > 2 ? names[2] : "");
    if (c->log_every < 1)
        return err_set(err, "train.log_every = %d must be at least 1 (a progress line every N steps)", c->log_every);
    if (c->loader_threads < 1) return err_set(err, "data.loader_threads = %d must be at least 1", c->loader_threads);
    if (c->threads < 0) return err_set(err, "train.threads = %d must be 0 (all cores) or positive", c->threads);
    if (c->max_steps_per_epoch < 0)
        return err_set(err, "train.max_steps_per_epoch = %d must be 0 (the whole split) or positive",
                       c->max_steps_per_epoch);
    if (!(c->max_bad_fraction >= 0 && c->max_bad_fraction <= 1))
        return err_set(err, "data.max_bad_fraction = %g is out of range [0, 1]", c->max_bad_fraction);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return err_set(err, "optim.momentum = %g is out of range [0, 1)", c->momentum);
    if (c->weight_decay < 0 || c->clip_norm < 0 || c->warmup_epochs < 0 || !(c->gamma > 0))
        return err_set(err,
                       "optim.weight_decay, clip_norm and warmup_epochs must be 0 or positive, optim.gamma positive");
    if (c->warmup_epochs > 0 && c->warmup_epochs >= c->epochs)
        return err_set(err, "optim.warmup_epochs = %g is not shorter than train.epochs = %d: the learning rate would "
                            "never reach optim.lr", c->warmup_epochs, c->epochs);
    for (int i = 0; i < c->n_milestones; i++)
        if (c->milestones[i] < 1)
            return err_set(err, "optim.milestones: %d is not an epoch after the first (milestones count from 1: the "
                                "learning rate is multiplied by optim.gamma from that epoch on)", c->milestones[i]);
    return 0;
}

static void format_value(const Config *c, const Key *k, char *buf, size_t n) {
    const char *base = (const char *)c;
    size_t off = 0;
    switch (k->type) {
    case K_INT: snprintf(buf, n, "%d", *(const int *)(base + k->offset)); break;
    case K_FLOAT: snprintf(buf, n, "%g", *(const float *)(base + k->offset)); break;
    case K_BOOL: snprintf(buf, n, "%s", *(const int *)(base + k->offset) ? "true" : "false"); break;
    case K_STR: snprintf(buf, n, "%s", base + k->offset); break;
    case K_FLOATS:
    case K_INTS: {
        int count = *(const int *)(base + k->count_offset);
        buf[0] = 0;
        for (int i = 0; i < count && off < n; i++) {
            if (k->type == K_FLOATS)
                off +=
                    (size_t)snprintf(buf + off, n - off, "%s%g", i ? ", " : "", ((const float *)(base + k->offset))[i]);
            else
                off +=
                    (size_t)snprintf(buf + off, n - off, "%s%d", i ? ", " : "", ((const int *)(base + k->offset))[i]);
        }
        break;
    }
    }
}

/* Where things are and how a run computes, not what it learns: paths (the data and weights may move
 * between restarts), the device and its precision, threads, batching of the same global batch. */
static const char *const k_operational[] = {
    "model.weights",     "model.vocab",          "model.descriptions",  "model.long_clip",
    "model.dtype",       "data.root",            "data.train_list",     "data.test_list",
    "data.landmarks",    "data.parsing",         "data.uint8_frames",   "data.device_prefetch",
    "data.loader_threads", "data.max_bad_fraction", "train.eval_batch", "train.device",
    "train.gpu_mem",     "train.micro_batch",    "train.recompute",     "train.threads",
    "train.nonfinite",   "train.log_every",      "train.hang_minutes",
};

static const char *const k_paths[] = {"model.weights", "model.vocab", "model.descriptions", "model.long_clip",
                                      "data.root",     "data.train_list", "data.test_list",   "data.landmarks",
                                      "data.parsing"};

int config_absolute_paths(Config *c, Err *err) {
    char cwd[4096], key[96];
    if (!getcwd(cwd, sizeof cwd)) return err_set(err, "cannot tell the current folder: %s", strerror(errno));
    for (size_t j = 0; j < sizeof k_paths / sizeof k_paths[0]; j++) {
        snprintf(key, sizeof key, "%s", k_paths[j]);
        char *dot = strchr(key, '.');
        *dot = '\0';
        const Key *k = find_key(key, dot + 1);
        CHECK(k && k->type == K_STR, "k_paths names no text key: %s", k_paths[j]);
        char *value = (char *)c + k->offset;
        if (!value[0] || value[0] == '/') continue;
        const char *rel = value;
        while (rel[0] == '.' && rel[1] == '/') rel += 2; /* ./x -> x */
        char joined[4096 + CFG_STR + 2];
        int n = !strcmp(rel, ".") || !rel[0] ? snprintf(joined, sizeof joined, "%s", cwd)
                                              : snprintf(joined, sizeof joined, "%s/%s", cwd, rel);
        if (n < 0 || (size_t)n >= k->size)
            return err_set(err, "%s = %s: its absolute path %s is longer than %zu bytes", k_paths[j], value, joined,
                           k->size - 1);
        memcpy(value, joined, (size_t)n + 1);
    }
    return 0;
}

static void diff_append(char *out, size_t n, const char *key, const char *before, const char *after) {
    size_t len = strlen(out);
    if (len < n) snprintf(out + len, n - len, "%s%s: %s -> %s", len ? "; " : "", key, before[0] ? before : "(empty)",
                          after[0] ? after : "(empty)");
}

int config_diff(const Config *before, const Config *after, char *training, size_t training_n, char *operational,
                size_t operational_n) {
    char a[CFG_STR + 64], b[CFG_STR + 64], key[96];
    int changed = 0;
    /* a misspelt name would go unnoticed */
    for (size_t j = 0; j < sizeof k_operational / sizeof k_operational[0]; j++) {
        snprintf(key, sizeof key, "%s", k_operational[j]);
        char *dot = strchr(key, '.');
        CHECK(dot && (*dot = '\0', find_key(key, dot + 1)), "k_operational names no key: %s", k_operational[j]);
    }
    training[0] = operational[0] = '\0';
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &k_keys[i];
        format_value(before, k, a, sizeof a);
        format_value(after, k, b, sizeof b);
        if (!strcmp(a, b)) continue;
        snprintf(key, sizeof key, "%s.%s", k->section, k->name);
        int how = 0;
        for (size_t j = 0; j < sizeof k_operational / sizeof k_operational[0] && !how; j++)
            how = !strcmp(key, k_operational[j]);
        if (how) diff_append(operational, operational_n, key, a, b);
        else diff_append(training, training_n, key, a, b), changed++;
    }
    return changed;
}

void config_write(const Config *c, FILE *out) { config_write_origins(c, 0, out); }

void config_write_origins(const Config *c, int origins, FILE *out) {
    const char *section = "";
    char value[CFG_STR + 64], written[CFG_STR + 66];
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &k_keys[i];
        if (strcmp(section, k->section)) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
            section = k->section;
        }
        format_value(c, k, value, sizeof value);
        ini_value_format(value, written, sizeof written); /* quoted where it begins or ends with a blank */
        fprintf(out, "%s = %s", k->name, written);
        /* an inline comment (" ;"), which the file read back ignores: no value holds one (ini_value_unsafe) */
        if (origins && c->origin[i][0]) fprintf(out, "  ; %s", c->origin[i]);
        fputc('\n', out);
    }
}

int config_write_file(const Config *c, const char *path, Err *err) {
    AtomicFile file;
    FILE *out = atomic_stream_open(&file, path, err);
    if (!out) return -1;
    config_write(c, out);
    return atomic_stream_commit(&file, out, NULL, err);
}

/* A table cell: '|' would end it, so it is escaped. */
static void md_cell(FILE *out, const char *text) {
    for (const char *c = text; *c; c++) {
        if (*c == '|') fputc('\\', out);
        fputc(*c, out);
    }
}

void config_write_markdown(FILE *out) {
    static const char *types[] = {"integer", "number", "text", "true/false", "numbers", "integers"};
    fprintf(out, "# Configuration reference\n\nGenerated by `dfer config --markdown` from the key table in "
                 "`src/train/config.c`; do not edit by hand.\nKeys are set in INI files (`[section]`, `key = value`) "
                 "or with `--set section.key=value`; unknown keys are errors.\nText values (paths, the prompt) may be "
                 "as long as %d characters on lines of any length. A value in double quotes "
                 "(`prompt = \" a {class} \"`) is read without them, its blanks kept; one that begins with `\"` "
                 "must end with the only other `\"` it holds. Since a run keeps its configuration as an INI file "
                 "(`config.ini`), a value may not begin "
                 "with `\"`, begin or end with a blank while holding a `\"`, or hold a `;` after a blank (an INI "
                 "comment, even between quotes).\n",
            CFG_STR - 1);
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &k_keys[i];
        if (strcmp(section, k->section)) {
            fprintf(out, "\n## [%s]\n\n| key | type | default | meaning |\n|---|---|---|---|\n", k->section);
            section = k->section;
        }
        fprintf(out, "| `%s` | %s%s", k->name, types[k->type], k->choices ? ": " : "");
        md_cell(out, k->choices ? k->choices : "");
        fprintf(out, " | %s%s%s | ", k->def[0] ? "`" : "", k->def, k->def[0] ? "`" : "(empty)");
        md_cell(out, k->help);
        fprintf(out, " |\n");
    }
}
