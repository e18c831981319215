/* Configuration: defaults, INI loading, --set overrides, and clear errors with
 * file and line for unknown keys and bad values. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "train/config.h"

static const char *write_file(const char *name, const char *text) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Whether two configurations hold the same values (where each came from aside: a file read back has its own) */
static int same_values(const Config *a, const Config *b) { return memcmp(a, b, offsetof(Config, origin)) == 0; }

static void test_defaults_and_file(void) {
    Config c;
    config_defaults(&c);
    EXPECT(!strcmp(c.method, "finecliper") && c.frames == 16 && c.n_lr == 1 && c.lr[0] > 0.0099f, "defaults");
    EXPECT(c.n_milestones == 2 && c.milestones[1] == 40, "list default");
    Err err;
    const char *p = write_file("a.ini", "[model]\nmethod = dfer_clip\n; comment\n[optim]\nlr = 1e-5, 0.01 ,0.001\n"
                                        "[train]\nepochs=3\n");
    EXPECT(config_load_file(&c, p, &err) == 0, "%s", err.msg);
    EXPECT(!strcmp(c.method, "dfer_clip") && c.epochs == 3 && c.n_lr == 3, "loaded");
    EXPECT(c.lr[0] == 1e-5f && c.lr[1] == 0.01f && c.lr[2] == 0.001f, "list parsed");
    EXPECT(config_set(&c, "train.batch=7", &err) == 0 && c.batch == 7, "--set");
    EXPECT(config_set(&c, "model.video_adapters=false", &err) == 0 && c.video_adapters == 0, "bool");
}

static void test_errors(void) {
    Config c;
    config_defaults(&c);
    Err err;
    const char *p = write_file("bad.ini", "[train]\nepochs = 3\n\n[train]\nepoch = 4\n");
    EXPECT(config_load_file(&c, p, &err) != 0, "unknown key rejected");
    EXPECT(strstr(err.msg, "bad.ini:5") && strstr(err.msg, "train.epoch"), "message names file, line and key: %s",
           err.msg);
    /* a section this file cannot have, keys under it or not (an empty one passed without a word) */
    p = write_file("section.ini", "[train]\nepochs = 3\n[trian]\n; nothing here yet\n");
    EXPECT(config_load_file(&c, p, &err) != 0 &&
               strstr(err.msg, "section.ini:3: unknown section [trian] (this file has [model], [data], [train], [optim])"),
           "an empty unknown section: %s", err.msg);
    p = write_file("bad2.ini", "[optim]\noptimizer = adam\n");
    EXPECT(config_load_file(&c, p, &err) != 0 && strstr(err.msg, "sgd|adamw") && strstr(err.msg, "bad2.ini:2"),
           "bad choice: %s", err.msg);
    p = write_file("bad3.ini", "[train]\nbatch = eight\n");
    EXPECT(config_load_file(&c, p, &err) != 0 && strstr(err.msg, "not an integer"), "bad int: %s", err.msg);
    EXPECT(config_set(&c, "train.epochs", &err) != 0, "--set without =");
    EXPECT(config_set(&c, "nosuch.key=1", &err) != 0 && strstr(err.msg, "unknown key"), "--set unknown");
    EXPECT(config_set(&c, "optim.lr=0.1,x", &err) != 0, "bad list value");
    EXPECT(config_load_file(&c, "/nonexistent/x.ini", &err) != 0 && strstr(err.msg, "/nonexistent/x.ini"),
           "missing file");
    /* a folder, and a file that fails mid-read, are not empty configurations (a run on the defaults) */
    EXPECT(config_load_file(&c, test_tmpdir(), &err) != 0 && strstr(err.msg, "Is a directory"), "a folder: %s",
           err.msg);
    if (!access("/proc/self/mem", R_OK)) /* opens, and every read of it at offset 0 fails (EIO) */
        EXPECT(config_load_file(&c, "/proc/self/mem", &err) != 0 && strstr(err.msg, "cannot read"),
               "a read error: %s", err.msg);
    static const char nul_text[] = "[train]\nepochs = 3\0 5\nbatch = 4\n";
    const char *nul_path = write_file("nul.ini", "");
    FILE *nf = fopen(nul_path, "w");
    fwrite(nul_text, 1, sizeof nul_text - 1, nf);
    fclose(nf);
    EXPECT(config_load_file(&c, nul_path, &err) != 0 && strstr(err.msg, "nul.ini:2") &&
               strstr(err.msg, "NUL byte"),
           "a NUL byte cut the line short: %s", err.msg);
    config_defaults(&c);
    EXPECT(config_validate(&c, &err) != 0 && strstr(err.msg, "model.weights"), "weights required");
    config_set(&c, "model.weights=w.safetensors", &err);
    config_set(&c, "data.root=/data", &err);
    EXPECT(config_validate(&c, &err) == 0, "defaults with weights and root validate: %s", err.msg);
    EXPECT(!strcmp(c.normalise, "auto") && c.crop_min_area == 0.08f, "normalise auto, crop area from 0.08 by default");
    EXPECT(config_set(&c, "data.normalise=mean", &err) != 0 && strstr(err.msg, "auto|clip|raw"), "bad normalise: %s",
           err.msg);
    config_set(&c, "data.crop_min_area=0", &err);
    EXPECT(config_validate(&c, &err) != 0 && strstr(err.msg, "data.crop_min_area"), "crop area 0 refused: %s", err.msg);
    config_set(&c, "data.crop_min_area=1.5", &err);
    EXPECT(config_validate(&c, &err) != 0 && strstr(err.msg, "(0, 1]"), "crop area above 1 refused: %s", err.msg);
}

/* a written as a run's resolved config.ini (config_write) and read back into *b; 0 when it loads. */
static int write_and_reload(const Config *a, const char *name, Config *b, Err *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    config_write(a, f);
    fclose(f);
    config_defaults(b);
    return config_load_file(b, path, err);
}

/* A value refused after parsing (a range, a key against another) names where it was set, as a parse error names the
 * file and line: the file's line, --set, or whichever came last; a key on its default is not blamed. */
static void test_errors_name_origin(void) {
    Config c;
    config_defaults(&c);
    Err err;
    const char *p = write_file("range.ini", "[model]\nmethod = finecliper\n\n[train]\nepochs = -1\n");
    EXPECT(config_load_file(&c, p, &err) == 0, "%s", err.msg);
    char want[800];
    snprintf(want, sizeof want, "train.epochs = -1 must be at least 1 (train.epochs from %s:5)", p);
    EXPECT(config_validate_settings(&c, &err) != 0 && !strcmp(err.msg, want), "the file's line: %s", err.msg);
    EXPECT(config_set(&c, "train.epochs=0", &err) == 0, "%s", err.msg);
    EXPECT(config_validate_settings(&c, &err) != 0 && strstr(err.msg, "(train.epochs from --set)"),
           "the --set that came last: %s", err.msg);
    /* two keys, in the order the message names them; the file's origin of one, --set's of the other */
    p = write_file("warmup.ini", "[optim]\nwarmup_epochs = 5\n");
    config_defaults(&c);
    EXPECT(config_load_file(&c, p, &err) == 0 && config_set(&c, "train.epochs=4", &err) == 0, "%s", err.msg);
    snprintf(want, sizeof want, "(optim.warmup_epochs from %s:2; train.epochs from --set)", p);
    EXPECT(config_validate_settings(&c, &err) != 0 && strstr(err.msg, want), "two keys: %s", err.msg);
    /* the default is not blamed; a longer key holding the name is not the key (bottleneck_divisor) */
    config_defaults(&c);
    EXPECT(config_set_from(&c, "model.mid_high_bottleneck_divisor=-2", "m.ini:9 [set]", &err) == 0, "%s", err.msg);
    EXPECT(config_validate_settings(&c, &err) != 0 &&
               strstr(err.msg, "(model.mid_high_bottleneck_divisor from m.ini:9 [set])") &&
               !strstr(err.msg, "model.bottleneck_divisor from"),
           "a matrix's [set]: %s", err.msg);
    config_defaults(&c);
    c.epochs = 0; /* set by no file or option */
    EXPECT(config_validate_settings(&c, &err) != 0 && !strchr(err.msg, '('), "a default's error: %s", err.msg);
    /* a long path keeps its end, the file's name and line */
    char long_origin[600];
    snprintf(long_origin, sizeof long_origin, "/%0500d/end.ini:3", 0);
    config_defaults(&c);
    EXPECT(config_set_from(&c, "train.epochs=-5", long_origin, &err) == 0, "%s", err.msg);
    EXPECT(config_validate_settings(&c, &err) != 0 && strstr(err.msg, "(train.epochs from ...0") &&
               strstr(err.msg, "/end.ini:3)"),
           "a long origin: %s", err.msg);
}

/* `dfer config --origins`: each value a file or --set gave with where it came from (one set to its default value too),
 * none on a key nothing set, as an inline comment that reading the file back ignores (the same values, each now from
 * the written file's line). */
static void test_write_origins(void) {
    Config a, b;
    config_defaults(&a);
    Err err;
    char p[600]; /* write_file's buffer is written again below */
    snprintf(p, sizeof p, "%s",
             write_file("origins.ini", "[train]\nepochs = 3\nseed = 1\n[model]\nprompt = \"  a {class} face \"\n"));
    EXPECT(config_load_file(&a, p, &err) == 0 && config_set(&a, "train.batch=8", &err) == 0, "%s", err.msg);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_write_origins(&a, 1, f);
    fclose(f);
    char out[600];
    snprintf(out, sizeof out, "%s", write_file("origins-written.ini", text));
    char want[800];
    snprintf(want, sizeof want, "\nepochs = 3  ; %s:2\n", p);
    EXPECT(strstr(text, want) && strstr(text, "\nbatch = 8  ; --set\n"), "origins as comments: %s", text);
    snprintf(want, sizeof want, "\nprompt = \"  a {class} face \"  ; %s:5\n", p);
    EXPECT(strstr(text, want), "a quoted value's origin: %s", text);
    snprintf(want, sizeof want, "\nseed = 1  ; %s:3\n", p); /* set to its default value: set all the same */
    EXPECT(strstr(text, want) && strstr(text, "\nlr = 0.01\n"), "a default set and one not: %s", text);
    config_defaults(&b);
    EXPECT(config_load_file(&b, out, &err) == 0 && same_values(&a, &b), "read back, the same values: %s", err.msg);
    snprintf(want, sizeof want, "%s:", out);
    EXPECT(!strncmp(b.origin[0], want, strlen(want)), "each from the written file now: %s", b.origin[0]);
    free(text);
}

static void test_roundtrip(void) {
    Config a, b;
    config_defaults(&a);
    Err err;
    config_set(&a, "optim.lr=0.5,0.25", &err);
    config_set(&a, "data.root=/data/dfew", &err);
    EXPECT(write_and_reload(&a, "resolved.ini", &b, &err) == 0, "resolved config loads: %s", err.msg);
    EXPECT(same_values(&a, &b), "write/load round trip is exact");
}

/* Values longer than inih's line buffer (200 bytes in Debian's libinih, whose rest of a line used to
 * be parsed as a line of its own): a run's config.ini with a long data.root or prompt read back
 * exactly, inline comments and blanks treated as on short lines. */
static void test_long_lines(void) {
    char root[420], prompt[330], text[1800];
    memset(root, 'r', sizeof root - 1);
    root[0] = '/';
    root[sizeof root - 1] = '\0';
    snprintf(prompt, sizeof prompt, "a face showing {class}");
    for (size_t n = strlen(prompt); n + 12 < sizeof prompt; n = strlen(prompt)) strcat(prompt, ", very much");
    snprintf(text, sizeof text,
             "[data]\nroot =   %s   ; where the clips are\n[model]\nprompt=%s\n[train]\nepochs = 4\n", root, prompt);
    Config a, b;
    config_defaults(&a);
    Err err;
    EXPECT(config_load_file(&a, write_file("long.ini", text), &err) == 0, "long lines load: %s", err.msg);
    EXPECT(!strcmp(a.root, root),
           "a 419-character root whole, its blanks and inline comment gone (%zu characters read)", strlen(a.root));
    EXPECT(!strcmp(a.prompt, prompt) && a.epochs == 4, "a long prompt whole, and the keys after it read");
    /* the resolved configuration a run writes, read back */
    EXPECT(write_and_reload(&a, "long-resolved.ini", &b, &err) == 0 && same_values(&a, &b),
           "long values round trip: %s", err.msg);
    /* longer than the key holds: refused with the line */
    char huge[700];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    snprintf(text, sizeof text, "[data]\nfold = 2\nroot = /%s\n", huge);
    EXPECT(config_load_file(&b, write_file("huge.ini", text), &err) != 0 && strstr(err.msg, "huge.ini:3") &&
               strstr(err.msg, "data.root is too long"),
           "a root longer than 511 characters: %s", err.msg);
    /* a long comment line is a comment */
    snprintf(text, sizeof text, "; %s\n[train]\nepochs = 5\n", huge);
    EXPECT(config_load_file(&b, write_file("comment.ini", text), &err) == 0 && b.epochs == 5, "long comment: %s",
           err.msg);
}

/* Syntax errors quote their line and say what is wrong; the first error of a file is the one reported. */
static void test_syntax_errors(void) {
    Config c;
    config_defaults(&c);
    Err err;
    EXPECT(config_load_file(&c, write_file("s1.ini", "[model]\nmethod = finecliper\n[data\nfold = 1\n"), &err) != 0 &&
               strstr(err.msg, "s1.ini:3: '[data': a section header without its closing ']'"),
           "an unclosed section names its line, not the key after it: %s", err.msg);
    EXPECT(config_load_file(&c, write_file("s2.ini", "[train]\nepochs 3\n"), &err) != 0 &&
               strstr(err.msg, "s2.ini:2: 'epochs 3': expected key = value"),
           "a line without '=': %s", err.msg);
    EXPECT(config_load_file(&c, write_file("s3.ini", "[train]\nepoch = 3\nbatch\n"), &err) != 0 &&
               strstr(err.msg, "s3.ini:2: unknown key train.epoch"),
           "a refused key before a syntax error is the error reported: %s", err.msg);
    /* values a run's config.ini could not hold are refused where they are given */
    EXPECT(config_set(&c, "model.prompt=a face ; {class}", &err) != 0 && strstr(err.msg, "starts a comment"),
           "' ;' in a value: %s", err.msg);
    EXPECT(config_set(&c, "data.root=/data/dfew \"x\" ", &err) != 0 && strstr(err.msg, "trims"),
           "a trailing blank with a '\"' (config.ini cannot quote it): %s", err.msg);
    EXPECT(config_set(&c, "model.prompt=\"a {class}\"", &err) != 0 && strstr(err.msg, "quoted value"),
           "a leading '\"' (config.ini would read it as quoting): %s", err.msg);
    EXPECT(config_set(&c, "model.prompt=a face;{class}", &err) == 0, "';' without a blank before it is text: %s",
           err.msg);
}

/* Values that parse but make no sense, and keys given twice: errors that name the key (each of these
 * used to pass, to crash later, wrap around or change a run without a word). */
static void test_value_ranges(void) {
    Config c;
    Err err;
    static const char *const bad[][2] = {
        {"optim.lr=nan", "finite"},           {"model.temperature=inf", "finite"},
        {"optim.lr=0.1, nan", "finite"},      {"data.frames=4294967312", "not an integer"},
        {"optim.milestones=10, 99999999999", "whole number"},
        {"optim.lr=0.1,,0.2", "a blank value between commas"}, {"optim.milestones=10,", "a blank value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_defaults(&c);
        EXPECT(config_set(&c, bad[i][0], &err) != 0 && strstr(err.msg, bad[i][1]), "%s: %s", bad[i][0], err.msg);
    }
    static const char *const invalid[][2] = {
        {"train.log_every=0", "train.log_every"},         {"data.loader_threads=0", "data.loader_threads"},
        {"optim.momentum=-1", "optim.momentum"},          {"optim.momentum=1", "optim.momentum"},
        {"data.max_bad_fraction=-0.5", "max_bad_fraction"}, {"optim.lr=0.1,0.2,0.3", "one per parameter group"},
        {"train.threads=-2", "train.threads"},            {"optim.weight_decay=-1", "weight_decay"},
        {"optim.warmup_epochs=30", "not shorter than train.epochs = 30"},
        {"optim.milestones=-3, 40", "-3 is not an epoch"},
        {"optim.milestones=0", "0 is not an epoch"},
        {"train.eval_batch=2147483647", "train.eval_batch = 2147483647: at most 65536"},
        {"train.batch=65537", "train.batch = 65537: at most 65536"},
        {"model.contexts=-1", "model.contexts = -1 is out of range (0..32)"},
        {"model.temporal_layers=7", "model.temporal_layers = 7 is out of range (0..6)"},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        config_defaults(&c);
        EXPECT(config_set(&c, invalid[i][0], &err) == 0, "%s parses: %s", invalid[i][0], err.msg);
        EXPECT(config_validate_settings(&c, &err) != 0 && strstr(err.msg, invalid[i][1]), "%s: %s", invalid[i][0],
               err.msg);
    }
    /* on CUDA the device memory must exceed the runtime's allowance; the CPU does not use it */
    config_defaults(&c);
    EXPECT(config_set(&c, "train.device=cuda", &err) == 0 && config_set(&c, "train.gpu_mem=2", &err) == 0, "%s",
           err.msg);
    EXPECT(config_validate_settings(&c, &err) != 0 && strstr(err.msg, "train.gpu_mem = 2 GiB leaves nothing"),
           "gpu_mem 2 on CUDA: %s", err.msg);
    EXPECT(config_set(&c, "train.device=cpu", &err) == 0 && config_validate_settings(&c, &err) == 0,
           "gpu_mem 2 on the CPU: %s", err.msg);
    /* DFER-CLIP takes three learning rates, FineCLIPER two, both one */
    config_defaults(&c);
    EXPECT(config_set(&c, "optim.lr=0.1,0.2,0.3", &err) == 0 && config_set(&c, "model.method=dfer_clip", &err) == 0 &&
               config_validate_settings(&c, &err) == 0,
           "DFER-CLIP with three: %s", err.msg);
    config_defaults(&c);
    EXPECT(config_set(&c, "optim.lr=0.1, 0.2", &err) == 0 && config_validate_settings(&c, &err) == 0,
           "FineCLIPER with two: %s", err.msg);
    EXPECT(config_validate_settings(&c, &err) == 0, "the defaults are valid: %s", err.msg);
    /* a key given twice, in one section or in a section given again */
    config_defaults(&c);
    const char *p = write_file("twice.ini", "[train]\nepochs = 30\n[optim]\nlr = 0.1\n[train]\nepochs = 5\n");
    EXPECT(config_load_file(&c, p, &err) != 0 &&
               strstr(err.msg, "twice.ini:6: train.epochs is given twice (first on line 2)"),
           "a repeated key: %s", err.msg);
    /* indented keys: right after a [section] line an indented line is a key of its own for inih, not a continuation
     * of the key before the header, so its second giving is refused too (it silently replaced the first) */
    config_defaults(&c);
    p = write_file("twice_indented.ini", "[train]\n  epochs = 30\n[optim]\n  lr = 0.1\n[train]\n  epochs = 5\n");
    EXPECT(config_load_file(&c, p, &err) != 0 &&
               strstr(err.msg, "twice_indented.ini:6: train.epochs is given twice (first on line 2)"),
           "a repeated indented key: %s", err.msg);
    config_defaults(&c);
    p = write_file("indented.ini", "[train]\n  epochs = 7\n[optim]\n\tlr = 0.25\n");
    EXPECT(config_load_file(&c, p, &err) == 0 && c.epochs == 7 && c.lr[0] == 0.25, "indented keys given once: %s",
           err.msg);
    /* a continuation line of a key of one value: inih hands it over as the key's whole value, and the first line's
     * was dropped without a word (here epochs 8, and a prompt wrapped over two lines kept its second) */
    config_defaults(&c);
    p = write_file("continued.ini", "[train]\nepochs = 7\n    8\n");
    EXPECT(config_load_file(&c, p, &err) != 0 &&
               strstr(err.msg, "continued.ini:3: train.epochs: an indented line continues the value "
                               "of the key before it"),
           "a continuation line of train.epochs: %s (epochs %d)", err.msg, c.epochs);
}

/* What a configuration changes of its paper's model (config_ablation): the keys each paper ablates, in its tables'
 * order, only where they differ and where they change the model. */
static void test_ablation(void) {
    static const char *const cases[][3] = {
        {"model.method=finecliper", "", ""},
        {"model.method=finecliper", "model.negative=less", "negative=less"},
        {"model.method=finecliper", "model.mid_streams=parsing", ""}, /* no middle level: nothing changed */
        {"model.variant=low+mid", "model.mlp_adapter_scale=0.3, model.mid_streams=parsing",
         "mid_streams=parsing, mlp_adapter_scale=0.3"},
        {"model.method=dfer_clip", "", ""},
        {"model.method=dfer_clip", "model.contexts=4, model.temporal_layers=0", "temporal_layers=0, contexts=4"},
        {"model.method=dfer_clip", "model.class_specific_contexts=false, model.context_position=middle",
         "context_position=middle, class_specific_contexts=false"},
        /* without contexts their position and sharing change nothing */
        {"model.method=dfer_clip", "model.contexts=0, model.class_text=photo_of_name, model.context_position=middle",
         "contexts=0, class_text=photo_of_name"},
        {"model.method=dfer_clip", "model.negative=less", ""}, /* FineCLIPER's key: not DFER-CLIP's model */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Config c;
        Err err;
        config_defaults(&c);
        EXPECT(config_set(&c, cases[i][0], &err) == 0, "%s", err.msg);
        char keys[256];
        snprintf(keys, sizeof keys, "%s", cases[i][1]);
        for (char *k = strtok(keys, ","); k; k = strtok(NULL, ",")) {
            while (*k == ' ') k++;
            EXPECT(config_set(&c, k, &err) == 0, "%s: %s", k, err.msg);
        }
        char out[CONFIG_ABLATION_BYTES];
        config_ablation(&c, out, sizeof out);
        EXPECT(!strcmp(out, cases[i][2]), "%s with %s: \"%s\", not \"%s\"", cases[i][0], cases[i][1], out,
               cases[i][2]);
    }
}

/* Where a run finds `dfer prep`'s cache, and paths made absolute for a run's config.ini. */
static void test_paths(void) {
    Config c;
    Err err;
    char path[1200];
    config_defaults(&c);
    EXPECT(config_set(&c, "data.root=/data/DFEW", &err) == 0, "%s", err.msg);
    config_prep_path(&c, c.landmarks, "landmarks", path, sizeof path);
    EXPECT(!strcmp(path, "/data/DFEW/dfer_prep/landmarks"), "a dataset's cache: %s", path);
    /* a list's cache is beside the training list, where `dfer prep --dataset list --root LIST` writes it (it was
     * <empty root>/dfer_prep: /dfer_prep) */
    EXPECT(config_set(&c, "data.dataset=list", &err) == 0 &&
               config_set(&c, "data.train_list=/lists/train.txt", &err) == 0,
           "%s", err.msg);
    config_prep_path(&c, c.descriptions, "descriptions.jsonl", path, sizeof path);
    EXPECT(!strcmp(path, "/lists/dfer_prep/descriptions.jsonl"), "a list's cache: %s", path);
    EXPECT(config_set(&c, "data.train_list=train.txt", &err) == 0, "%s", err.msg);
    config_prep_path(&c, c.landmarks, "landmarks", path, sizeof path);
    EXPECT(!strcmp(path, "dfer_prep/landmarks"), "a list in the current folder: %s", path);
    EXPECT(config_set(&c, "data.landmarks=/tracks", &err) == 0, "%s", err.msg);
    config_prep_path(&c, c.landmarks, "landmarks", path, sizeof path);
    EXPECT(!strcmp(path, "/tracks"), "a configured folder: %s", path);

    /* relative file keys become absolute against the current folder; absolute and empty ones stay */
    char cwd[1024];
    EXPECT(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    EXPECT(config_set(&c, "model.weights=./w/clip.safetensors", &err) == 0 && config_set(&c, "data.root=.", &err) == 0,
           "%s", err.msg);
    EXPECT(config_absolute_paths(&c, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/w/clip.safetensors", cwd);
    EXPECT(!strcmp(c.weights, path), "model.weights: %s", c.weights);
    EXPECT(!strcmp(c.root, cwd), "data.root: %s", c.root);
    snprintf(path, sizeof path, "%s/train.txt", cwd);
    EXPECT(!strcmp(c.train_list, path), "data.train_list: %s", c.train_list);
    EXPECT(!strcmp(c.landmarks, "/tracks") && c.vocab[0] == 0, "absolute and empty keys changed: %s, %s", c.landmarks,
           c.vocab);
}

/* Quoting: a value wholly in one pair of double quotes is read without them, blanks and '#' kept, and a run's
 * config.ini quotes such a value so it reads back the same; a value that opens a quote it does not end is an error
 * naming file:line and key (the quotes used to stay in the value: `root = "/data/my dfew"` looked for a folder
 * named with the quotes). A '"' elsewhere is a character. */
static void test_quoting(void) {
    Config a, b;
    config_defaults(&a);
    Err err;
    const char *p = write_file("q.ini", "[data]\nroot = \"/data/my dfew\"  ; a comment\n[model]\n"
                                        "prompt = \"  a #1 {class} face  \"\nnegative = \"less\"\n"
                                        "mid_streams=parsing\nvocab = /v/say \"hi\".gz\n");
    EXPECT(config_load_file(&a, p, &err) == 0, "quoted values load: %s", err.msg);
    EXPECT(!strcmp(a.root, "/data/my dfew") && !strcmp(a.prompt, "  a #1 {class} face  ") &&
               !strcmp(a.negative, "less"),
           "quotes removed, blanks and '#' kept: root '%s', prompt '%s', negative '%s'", a.root, a.prompt,
           a.negative);
    EXPECT(!strcmp(a.vocab, "/v/say \"hi\".gz"), "a '\"' not at the start is text: '%s'", a.vocab);
    EXPECT(write_and_reload(&a, "q-resolved.ini", &b, &err) == 0 && same_values(&a, &b),
           "a value with blanks at its ends round trips through config.ini: %s (prompt '%s')", err.msg, b.prompt);
    static const char *const bad[][2] = {
        {"[model]\nmethod = finecliper\nprompt = \"a {class}\n", "q1.ini:3: model.prompt = \"a {class}: it begins "
                                                                 "with a '\"' it does not close"},
        {"[model]\nprompt = \"a\" \"b\"\n", "q2.ini:2: model.prompt = \"a\" \"b\": it begins with a '\"' that closes"},
        {"[model]\nprompt = \"a ; b\"\n", "q3.ini:2: model.prompt = \"a: it begins with a '\"' it does not close"},
        {"[data]\nroot = \"\n", "q4.ini:2: data.root = \": it begins with a '\"' it does not close"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%zu.ini", i + 1);
        EXPECT(config_load_file(&b, write_file(name, bad[i][0]), &err) != 0 && strstr(err.msg, bad[i][1]),
               "case %zu: %s", i + 1, err.msg);
    }
}

int main(void) {
    TEST_RUN(test_paths);
    TEST_RUN(test_defaults_and_file);
    TEST_RUN(test_value_ranges);
    TEST_RUN(test_errors);
    TEST_RUN(test_errors_name_origin);
    TEST_RUN(test_write_origins);
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_long_lines);
    TEST_RUN(test_syntax_errors);
    TEST_RUN(test_quoting);
    TEST_RUN(test_ablation);
    return test_summary();
}
