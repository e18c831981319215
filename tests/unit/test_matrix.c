/* Matrix files: expansion into jobs with stable ids, folds only where the
 * dataset has them, zero-shot pairs, and clear errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "train/matrix.h"

static const char *write_file(const char *name, const char *text) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_expand(void) {
    const char *p = write_file("m.ini", "[matrix]\nname = demo\nranks_per_job = 2\n"
                                        "methods = finecliper=a.ini, finecliper:low+mid=a.ini, dfer_clip=b.ini\n"
                                        "datasets = dfew=/d/dfew, ferv39k=/d/ferv, mafw=/d/mafw\n"
                                        "folds = 1,2,3\nbackbones = b16=/w/b16.pt, b32=/w/b32.pt\nseeds = 1, 2\n"
                                        "settings = supervised, zeroshot:mafw->dfew\n[set]\ntrain.epochs = 3\n");
    Matrix m;
    Err err;
    EXPECT(matrix_load(p, &m, &err) == 0, "%s", err.msg);
    EXPECT(m.ranks_per_job == 2 && m.n_sets == 1 && !strcmp(m.sets[0], "train.epochs=3"), "header");
    EXPECT(m.stale_lock_minutes == 10, "stale_lock_minutes default %g", m.stale_lock_minutes);
    Job *jobs;
    int n;
    EXPECT(matrix_expand(&m, &jobs, &n, &err) == 0, "%s", err.msg);
    /* supervised: 3 methods x 2 backbones x 2 seeds x (3 + 1 + 3 folds) = 84; zero-shot: 3 x 2 x 2 = 12 */
    EXPECT(n == 96, "%d jobs", n);
    int found = 0, zs = 0;
    for (int i = 0; i < n; i++) {
        for (int k = i + 1; k < n; k++) EXPECT(strcmp(jobs[i].id, jobs[k].id), "duplicate id %s", jobs[i].id);
        if (!strcmp(jobs[i].id, "finecliper-low_mid__dfew__f2__b32__s2")) {
            found = 1;
            EXPECT(!strcmp(jobs[i].variant, "low+mid") && jobs[i].fold == 2 && !strcmp(jobs[i].weights, "/w/b32.pt"),
                   "fields");
        }
        if (!strcmp(jobs[i].dataset, "ferv39k")) EXPECT(jobs[i].fold == 0, "ferv39k has no folds");
        if (!strcmp(jobs[i].setting, "zeroshot")) {
            zs++;
            EXPECT(!strcmp(jobs[i].dataset, "mafw") && !strcmp(jobs[i].eval_dataset, "dfew") &&
                       !strcmp(jobs[i].eval_root, "/d/dfew"), "zero-shot pair");
        }
    }
    EXPECT(found && zs == 12, "expected job present, %d zero-shot jobs", zs);
    free(jobs);
}

static void test_errors(void) {
    Matrix m;
    Err err;
    EXPECT(matrix_load(write_file("e1.ini", "[matrix]\nname = x\nmethods = finecliper=a\n"), &m, &err) != 0 &&
               strstr(err.msg, "required"), "missing axes: %s", err.msg);
    EXPECT(matrix_load(write_file("e2.ini", "[matrix]\nname = x\nmethods = finecliper=a\ndatasets = affwild=/x\n"
                                            "backbones = b=/w\n"), &m, &err) != 0 &&
               strstr(err.msg, "affwild"), "unknown dataset: %s", err.msg);
    EXPECT(matrix_load(write_file("e3.ini", "[matrix]\nname = x\nmethods = finecliper\n"), &m, &err) != 0 &&
               strstr(err.msg, "e3.ini:3"), "entry without value names the line: %s", err.msg);
    EXPECT(matrix_load(write_file("e4.ini", "[matrix]\nname = x\nmethods = finecliper=a\ndatasets = dfew=/d\n"
                                            "backbones = b=/w\nsettings = zeroshot:mafw->dfew\n"), &m, &err) != 0 &&
               strstr(err.msg, "not listed"), "zero-shot dataset missing: %s", err.msg);
    EXPECT(matrix_load(write_file("e5.ini", "[matrix]\nname = x\nfoo = 1\n"), &m, &err) != 0 &&
               strstr(err.msg, "matrix.foo"), "unknown key: %s", err.msg);
    EXPECT(matrix_load(write_file("e6.ini", "[matrix]\nname = x\nstale_lock_minutes = 0\n"), &m, &err) != 0 &&
               strstr(err.msg, "stale_lock_minutes") && strstr(err.msg, "e6.ini:3"), "zero stale minutes: %s", err.msg);
    EXPECT(matrix_load(write_file("e7.ini", "[matrix]\nname = x\nstale_lock_minutes = 5min\n"), &m, &err) != 0 &&
               strstr(err.msg, "'5min'"), "stale minutes with a unit: %s", err.msg);
    EXPECT(matrix_load(write_file("e8.ini", "[matrix]\nname = x\nstale_lock_minutes = 7.5\nmethods = finecliper=a\n"
                                            "datasets = dfew=/d\nbackbones = b=/w\n"), &m, &err) == 0 &&
               m.stale_lock_minutes == 7.5, "stale minutes 7.5: %s", err.msg);
    /* shorter than three heartbeats takes live jobs over; inf would never let a lock go stale */
    EXPECT(matrix_load(write_file("e9.ini", "[matrix]\nname = x\nstale_lock_minutes = 0.5\n"), &m, &err) != 0 &&
               strstr(err.msg, "at least 3"), "half a minute: %s", err.msg);
    EXPECT(matrix_load(write_file("e10.ini", "[matrix]\nname = x\nstale_lock_minutes = inf\n"), &m, &err) != 0 &&
               strstr(err.msg, "'inf'"), "inf: %s", err.msg);
    /* names the results folder: not the folder itself or its parent */
    EXPECT(matrix_load(write_file("e11.ini", "[matrix]\nname = ..\n"), &m, &err) != 0 && strstr(err.msg, "not . or .."),
           "name ..: %s", err.msg);
    /* only FineCLIPER has variants */
    EXPECT(matrix_load(write_file("e12.ini", "[matrix]\nname = x\nmethods = dfer_clip:low+mid=a\ndatasets = dfew=/d\n"
                                             "backbones = b=/w\n"), &m, &err) != 0 &&
               strstr(err.msg, "only finecliper takes a variant"), "dfer_clip with a variant: %s", err.msg);
    EXPECT(matrix_load(write_file("ranks.ini", "[matrix]\nname = x\nranks_per_job = 2x\n"), &m, &err) != 0 &&
               strstr(err.msg, "ranks.ini:3") && strstr(err.msg, "not '2x'"),
           "ranks_per_job '2x' refused (atoi took it as 2): %s", err.msg);
    /* [set]'s keys and values are checked as the file is read: file and line, not "--set" once a job; the first bad
     * line is the one named (an axis key below an unknown one was named first) */
    static const char *const set_cases[][2] = {
        {"[matrix]\nname = x\n[set]\ntrain.epochs = 1\ntrain.epoch = 1\ndata.fold = 2\n",
         "s1.ini:5: [set]: unknown key train.epoch"},
        {"[matrix]\nname = x\n[set]\ntrain.epochs = x\n", "s2.ini:4: [set]: train.epochs = 'x' is not an integer"},
        {"[matrix]\nname = x\n[set]\nepochs = 3\n", "s3.ini:4: [set] epochs: a key is section.name"},
        {"[matrix]\nname = x\n[set]\ndata.fold = 2\n", "s4.ini:4: [set] data.fold: the matrix sets it"},
        /* a section of no key (a typo of [set] left empty) is no longer passed over */
        {"[matrix]\nname = x\n[sets]\n", "s5.ini:3: unknown section [sets] (this file has [matrix], [set], [set@*])"},
        /* an arm's own keys: checked alike, and the arm must be one of matrix.methods' */
        {"[matrix]\nname = x\n[set@less]\ndata.fold = 2\n", "s6.ini:4: [set@less] data.fold: the matrix sets it"},
        {"[matrix]\nname = x\n[set@]\nmodel.negative = less\n", "s7.ini:4: [set@]: after 'set@' comes an arm"},
        {"[matrix]\nname = x\n[set@less]\nmodel.negative = fewer\n", "s8.ini:4: [set@less]: model.negative"},
        {"[matrix]\nname = x\nmethods = finecliper:low@less=a.ini\ndatasets = dfew=/d\nbackbones = b=/w\n"
         "[set@lesss]\nmodel.negative = less\n",
         "s9.ini:7: [set@lesss]: no entry of matrix.methods has the arm 'lesss'"},
    };
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d.ini", i + 1);
        EXPECT(matrix_load(write_file(name, set_cases[i][0]), &m, &err) != 0 && strstr(err.msg, set_cases[i][1]) &&
                   !strstr(err.msg, "--set"),
               "[set] case %d: %s", i + 1, err.msg);
    }
}

/* Long lines (more than inih's 200-byte buffer): cluster paths in the datasets list, on continuation
 * lines, and in [set], whole; a [set] value longer than a key holds is refused, not cut. */
static void test_long_lines(void) {
    char dir[300], text[3000];
    memset(dir, 'd', sizeof dir - 1);
    dir[0] = '/';
    dir[sizeof dir - 1] = '\0';
    snprintf(text, sizeof text,
             "[matrix]\nname = long\nmethods = finecliper=a.ini\ndatasets = dfew=%s/dfew,\n    mafw=%s/mafw ; two\n"
             "backbones = b16=/w/b16.pt\n[set]\nmodel.descriptions = %s/descriptions.jsonl\n",
             dir, dir, dir);
    Matrix m;
    Err err;
    EXPECT(matrix_load(write_file("long.ini", text), &m, &err) == 0, "%s", err.msg);
    char want[400];
    snprintf(want, sizeof want, "%s/mafw", dir);
    EXPECT(m.n_datasets == 2 && !strcmp(m.datasets[1].value, want), "a long continuation line whole (%zu characters)",
           strlen(m.datasets[1].value));
    snprintf(want, sizeof want, "model.descriptions=%s/descriptions.jsonl", dir);
    EXPECT(m.n_sets == 1 && !strcmp(m.sets[0], want), "a long [set] value whole");
    char huge[700];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    snprintf(text, sizeof text, "[matrix]\nname = x\n[set]\nmodel.descriptions = /%s\n", huge);
    EXPECT(matrix_load(write_file("huge.ini", text), &m, &err) != 0 && strstr(err.msg, "huge.ini:4") &&
               strstr(err.msg, "too long"),
           "a [set] value beyond its room: %s", err.msg);
    EXPECT(matrix_load(write_file("syntax.ini", "[matrix]\nname = x\nmethods finecliper\n"), &m, &err) != 0 &&
               strstr(err.msg, "syntax.ini:3: 'methods finecliper': expected key = value"),
           "a line without '=': %s", err.msg);
}

/* Arms: one method and variant more than once, each from its own file (the paper's ablations beside its model): ids
 * with the arm after "--", the arm on the job (malformed and repeated arms: test_ambiguous). */
static void test_arms(void) {
    Matrix m;
    Err err;
    Job *jobs;
    int n;
    EXPECT(matrix_load(write_file("arms.ini", "[matrix]\nname = x\ndatasets = dfew=/d\nbackbones = b16=/w\n"
                                              "methods = finecliper:low=a.ini, finecliper:low@less=less.ini,\n"
                                              "  finecliper@s0.3=s.ini, finecliper:low+mid@parsing_only=p.ini,\n"
                                              "  dfer_clip@m16=d.ini\nfolds = 1\n"),
                       &m, &err) == 0,
           "%s", err.msg);
    EXPECT(matrix_expand(&m, &jobs, &n, &err) == 0 && n == 5, "%d jobs: %s", n, err.msg);
    static const char *const want[][5] = {
        /* id, method, variant, arm, config */
        {"finecliper-low__dfew__f1__b16__s1", "finecliper", "low", "", "a.ini"},
        {"finecliper-low--less__dfew__f1__b16__s1", "finecliper", "low", "less", "less.ini"},
        {"finecliper-low--s0.3__dfew__f1__b16__s1", "finecliper", "low", "s0.3", "s.ini"},
        {"finecliper-low_mid--parsing_only__dfew__f1__b16__s1", "finecliper", "low+mid", "parsing_only", "p.ini"},
        {"dfer_clip--m16__dfew__f1__b16__s1", "dfer_clip", "", "m16", "d.ini"},
    };
    for (int i = 0; i < n && i < 5; i++)
        EXPECT(!strcmp(jobs[i].id, want[i][0]) && !strcmp(jobs[i].method, want[i][1]) &&
                   !strcmp(jobs[i].variant, want[i][2]) && !strcmp(jobs[i].arm, want[i][3]) &&
                   !strcmp(jobs[i].config, want[i][4]),
               "job %d: %s %s %s %s %s", i, jobs[i].id, jobs[i].method, jobs[i].variant, jobs[i].arm, jobs[i].config);
    if (n) free(jobs);
}

/* Matrices whose jobs would collide or be configured otherwise than they read: refused, with the reason. */
static void test_ambiguous(void) {
    Matrix m;
    Err err;
    Job *jobs;
    int n;
    const char *head = "[matrix]\nname = x\ndatasets = dfew=/d\nbackbones = b16=/w\n";
    static const char *const cases[][2] = {
        {"methods = finecliper=a.ini, finecliper:low=a.ini\n", "make the same job finecliper-low__dfew__f1__b16__s1"},
        {"methods = finecliper=a.ini\nseeds = 1, 01\n", "matrix.seeds: 1 appears twice"},
        {"methods = finecliper=a.ini\nfolds = 2, +2\n", "matrix.folds: 2 appears twice"},
        {"methods = finecliper=a.ini\nsettings = zeroshot:dfew->dfewXX\n", "neither supervised nor zeroshot"},
        {"methods = finecliper=a.ini\n[set]\ndata.fold = 9\n", "[set] data.fold: the matrix sets it"},
        {"methods = finecliper=a.ini\n[set]\ntrain.seed = 7\n", "[set] train.seed"},
        {"methods = finecliper=a.ini\n[set]\nmodel.weights = /x.pt\n", "[set] model.weights"},
        {"methods = finecliper=a.ini\nseeds = 1\nseeds = 2\n", "matrix.seeds is given twice"},
        /* arms: last, once, a name; one arm twice */
        {"methods = finecliper@=a.ini\n", "an arm comes last, once"},
        {"methods = finecliper:low@a@b=a.ini\n", "an arm comes last, once"},
        {"methods = finecliper@a:low=a.ini\n", "an arm comes last, once"},
        {"methods = finecliper:low@a+b=a.ini\n", "an arm comes last, once"},
        {"methods = @a=a.ini\n", "an arm comes last, once"},
        {"methods = finecliper:low@a/b=a.ini\n", "may hold letters, digits"},
        {"methods = finecliper:low@less=a.ini, finecliper:low@less=b.ini\n", "'finecliper:low@less' appears twice"},
        {"methods = finecliper@less=a.ini, finecliper:low@less=b.ini\n",
         "make the same job finecliper-low--less__dfew__f1__b16__s1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024], name[32];
        snprintf(text, sizeof text, "%s%s", head, cases[i][0]);
        snprintf(name, sizeof name, "amb%zu.ini", i);
        int rc = matrix_load(write_file(name, text), &m, &err);
        if (rc == 0) {
            rc = matrix_expand(&m, &jobs, &n, &err);
            if (rc == 0) free(jobs);
        }
        EXPECT(rc != 0 && strstr(err.msg, cases[i][1]), "case %zu: %s", i, err.msg);
    }
    EXPECT(matrix_load(write_file("slash.ini", "[matrix]\nname = x\ndatasets = dfew=/d\nbackbones = ViT-B/16=/w\n"
                                               "methods = finecliper=a.ini\n"), &m, &err) != 0 &&
               strstr(err.msg, "'ViT-B/16' may hold letters, digits and . _ - only"),
           "a backbone name with '/': %s", err.msg);
    /* a continuation line of a list is not a repeated key */
    EXPECT(matrix_load(write_file("cont.ini", "[matrix]\nname = x\ndatasets = dfew=/d\nbackbones = b16=/w\n"
                                              "methods = finecliper=a.ini,\n  dfer_clip=b.ini\nseeds = 1,\n  2\n"),
                       &m, &err) == 0 &&
               m.n_methods == 2 && m.n_seeds == 2,
           "continuation lines: %s", err.msg);
    /* a continuation line of a key of one value ([set] and the matrix's own scalars) is refused: inih hands it over
     * as the whole value, and the first line's was dropped without a word (the jobs trained 8 epochs) */
    EXPECT(matrix_load(write_file("cont_set.ini", "[matrix]\nname = x\ndatasets = dfew=/d\nbackbones = b16=/w\n"
                                                  "methods = finecliper=a.ini\n[set]\ntrain.epochs = 30\n    8\n"),
                       &m, &err) != 0 &&
               strstr(err.msg, "cont_set.ini:8: set.train.epochs: an indented line continues the value"),
           "a continuation line in [set]: %s (%d sets, the last %s)", err.msg, m.n_sets,
           m.n_sets ? m.sets[m.n_sets - 1] : "");
    EXPECT(matrix_load(write_file("cont_name.ini", "[matrix]\nname = x\n  y\ndatasets = dfew=/d\nbackbones = b16=/w\n"
                                                   "methods = finecliper=a.ini\n"), &m, &err) != 0 &&
               strstr(err.msg, "cont_name.ini:3: matrix.name: an indented line continues the value"),
           "a continuation line of matrix.name: %s (name %s)", err.msg, m.name);
}

/* Quoting in a matrix file: the axes' lists split at the commas outside double quotes, and each entry's name and
 * value are unquoted as a whole INI value is (on continuation lines too); [set] values and the scalars are unquoted
 * whole; an unclosed quote is an error naming file:line and the key. */
static void test_quoting(void) {
    Matrix m;
    Err err;
    const char *p = write_file("quoted.ini", "[matrix]\nname = \"q\"\ndatasets = dfew=\"/d/my data, 2\", mafw=/m\n"
                                             "backbones = b16=\"/w\"\nmethods = \"finecliper\"=a.ini,\n"
                                             "  dfer_clip=\"b c.ini\"\nseeds = \"1\", 2\n"
                                             "[set]\nmodel.prompt = \"  a {class} \"\n");
    EXPECT(matrix_load(p, &m, &err) == 0, "quoted entries load: %s", err.msg);
    EXPECT(!strcmp(m.name, "q") && m.n_datasets == 2 && !strcmp(m.datasets[0].value, "/d/my data, 2") &&
               !strcmp(m.datasets[1].value, "/m") && !strcmp(m.backbones[0].value, "/w"),
           "name '%s', %d datasets, the first '%s'", m.name, m.n_datasets, m.datasets[0].value);
    EXPECT(m.n_methods == 2 && !strcmp(m.methods[0].name, "finecliper") && !strcmp(m.methods[1].value, "b c.ini"),
           "methods over a continuation line: %d, '%s', '%s'", m.n_methods, m.methods[0].name,
           m.n_methods > 1 ? m.methods[1].value : "");
    EXPECT(m.n_seeds == 2 && m.seeds[0] == 1 && m.seeds[1] == 2, "quoted seed: %d seeds", m.n_seeds);
    EXPECT(m.n_sets == 1 && !strcmp(m.sets[0], "model.prompt=  a {class} "), "[set] value unquoted: '%s'",
           m.n_sets ? m.sets[0] : "");
    static const char *const bad[][2] = {
        {"[matrix]\nname = x\ndatasets = dfew=\"/d, mafw=/m\n",
         "bad1.ini:3: matrix.datasets: the entry 'dfew=\"/d, mafw=/m': it begins with a '\"' it does not close"},
        {"[matrix]\nname = x\nseeds = 1,\n  \"2\n", "bad2.ini:4: matrix.seeds: the entry '\"2': it begins"},
        {"[matrix]\nname = \"x\n", "bad3.ini:2: matrix.name = \"x: it begins with a '\"' it does not close"},
        {"[matrix]\nname = x\n[set]\ntrain.epochs = \"3\"4\"\n", "bad4.ini:4: set.train.epochs = \"3\"4\": it begins"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "bad%zu.ini", i + 1);
        EXPECT(matrix_load(write_file(name, bad[i][0]), &m, &err) != 0 && strstr(err.msg, bad[i][1]), "case %zu: %s",
               i + 1, err.msg);
    }
}

/* zeroshot:A->A where A has folds: a job per fold, tested on that fold's own test split (data.fold, no
 * data.eval_folds, which the trainer refuses on its own dataset); A->A without folds and A->B stay one job, their
 * ids unchanged (running matrices' result folders are named by them). */
static const Job *job_named(const Job *jobs, int n, const char *id) {
    for (int i = 0; i < n; i++)
        if (!strcmp(jobs[i].id, id)) return &jobs[i];
    return NULL;
}

static void test_zero_shot_same_dataset(void) {
    const char *p = write_file("zs.ini", "[matrix]\nname = zs\nmethods = finecliper=a.ini\n"
                                         "datasets = dfew=/d/dfew, ferv39k=/d/ferv, mafw=/d/mafw\nfolds = 1, 2\n"
                                         "backbones = b16=/w/b16\nsettings = zeroshot:dfew->dfew, zeroshot:mafw->dfew, "
                                         "zeroshot:ferv39k->ferv39k\n");
    Matrix m;
    Err err;
    Job *jobs;
    int n;
    EXPECT(matrix_load(p, &m, &err) == 0, "%s", err.msg);
    EXPECT(matrix_expand(&m, &jobs, &n, &err) == 0, "%s", err.msg);
    EXPECT(n == 4, "%d jobs (dfew->dfew on folds 1 and 2, mafw->dfew, ferv39k->ferv39k)", n);
    for (int fold = 1; fold <= 2; fold++) {
        char id[64];
        snprintf(id, sizeof id, "finecliper-low__zs-dfew-dfew__f%d__b16__s1", fold);
        const Job *j = job_named(jobs, n, id);
        EXPECT(j != NULL, "no job %s", id);
        if (!j) continue;
        EXPECT(j->fold == fold && j->n_eval_folds == 0, "%s: fold %d, %d eval folds", id, j->fold, j->n_eval_folds);
        EXPECT(!strcmp(j->setting, "zeroshot") && !strcmp(j->dataset, "dfew") && !strcmp(j->eval_dataset, "dfew") &&
                   !strcmp(j->root, "/d/dfew") && !strcmp(j->eval_root, "/d/dfew"), "%s: datasets", id);
    }
    const Job *ab = job_named(jobs, n, "finecliper-low__zs-mafw-dfew__b16__s1");
    EXPECT(ab && ab->fold == 1 && ab->n_eval_folds == 2 && ab->eval_folds[0] == 1 && ab->eval_folds[1] == 2,
           "mafw->dfew: one job trained on fold 1, tested on folds 1 and 2");
    const Job *ferv = job_named(jobs, n, "finecliper-low__zs-ferv39k-ferv39k__b16__s1");
    EXPECT(ferv && ferv->fold == 0 && ferv->n_eval_folds == 0, "ferv39k->ferv39k: one job without folds");
    free(jobs);
}

/* zeroshot:A->B/CAPTIONS: the job's kind of captions (Job.captions, for data.captions) and an id with it in the
 * setting's part; the same setting without it keeps its id; values other than data.captions's (but auto), an empty
 * one, supervised/CAPTIONS and a setting listed twice are refused, naming the file and the setting. */
static void test_zero_shot_captions(void) {
    const char *p = write_file("zscap.ini", "[matrix]\nname = zs\nmethods = finecliper=a.ini\n"
                                            "datasets = dfew=/d/dfew, ferv39k=/d/ferv, mafw=/d/mafw\nfolds = 1, 2\n"
                                            "backbones = b16=/w/b16\nsettings = zeroshot:mafw->dfew, "
                                            "zeroshot:mafw->dfew/descriptions,\n  zeroshot:mafw->mafw/descriptions, "
                                            "zeroshot:mafw->ferv39k/dataset\n");
    Matrix m;
    Err err;
    Job *jobs = NULL;
    int n = 0;
    EXPECT(matrix_load(p, &m, &err) == 0, "%s", err.msg);
    EXPECT(matrix_expand(&m, &jobs, &n, &err) == 0, "%s", err.msg);
    EXPECT(n == 5, "%d jobs (mafw->dfew twice, mafw->mafw/descriptions on folds 1 and 2, mafw->ferv39k/dataset)", n);
    const Job *plain = job_named(jobs, n, "finecliper-low__zs-mafw-dfew__b16__s1");
    EXPECT(plain && !plain->captions[0], "the setting without /CAPTIONS: its id unchanged, no captions of its own");
    const Job *d = job_named(jobs, n, "finecliper-low__zs-mafw-dfew-descriptions__b16__s1");
    EXPECT(d && !strcmp(d->captions, "descriptions") && !strcmp(d->setting, "zeroshot") && d->fold == 1 &&
               d->n_eval_folds == 2 && !strcmp(d->eval_dataset, "dfew"),
           "mafw->dfew/descriptions: its own id, captions '%s'", d ? d->captions : "(no job)");
    for (int fold = 1; fold <= 2; fold++) {
        char id[80];
        snprintf(id, sizeof id, "finecliper-low__zs-mafw-mafw-descriptions__f%d__b16__s1", fold);
        const Job *j = job_named(jobs, n, id);
        EXPECT(j && j->fold == fold && j->n_eval_folds == 0 && !strcmp(j->captions, "descriptions"), "no job %s", id);
    }
    const Job *f = job_named(jobs, n, "finecliper-low__zs-mafw-ferv39k-dataset__b16__s1");
    EXPECT(f && !strcmp(f->captions, "dataset") && f->fold == 1, "mafw->ferv39k/dataset");
    free(jobs);
    static const char *const bad[][2] = {
        {"zeroshot:mafw->dfew/auto", "zsbad0.ini: setting 'zeroshot:mafw->dfew/auto': 'auto' is not a kind of "
                                     "captions: after the '/' comes one of dataset, descriptions"},
        {"zeroshot:mafw->dfew/video", "zsbad1.ini: setting 'zeroshot:mafw->dfew/video': 'video' is not a kind"},
        {"zeroshot:mafw->dfew/", "zsbad2.ini: setting 'zeroshot:mafw->dfew/': '' is not a kind"},
        {"zeroshot:mafw->dfew/descriptions/x", "'descriptions/x' is not a kind"},
        {"supervised/descriptions", "zsbad4.ini: setting 'supervised/descriptions': a kind of captions is for "
                                    "zero-shot settings only"},
        {"zeroshot:mafw->dfew/descriptions, zeroshot:mafw->dfew/descriptions",
         "'zeroshot:mafw->dfew/descriptions' appears twice"},
        {"zeroshot:mafw/descriptions->dfew", "neither supervised nor zeroshot:A->B[/CAPTIONS]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512], name[32];
        snprintf(text, sizeof text, "[matrix]\nname = x\nmethods = finecliper=a.ini\ndatasets = dfew=/d, mafw=/m\n"
                                    "backbones = b16=/w\nsettings = %s\n", bad[i][0]);
        snprintf(name, sizeof name, "zsbad%zu.ini", i);
        int rc = matrix_load(write_file(name, text), &m, &err);
        if (rc == 0) {
            rc = matrix_expand(&m, &jobs, &n, &err);
            if (rc == 0) free(jobs);
        }
        EXPECT(rc != 0 && strstr(err.msg, bad[i][1]), "'%s': %s", bad[i][0], rc ? err.msg : "accepted");
    }
}

int main(void) {
    TEST_RUN(test_expand);
    TEST_RUN(test_zero_shot_same_dataset);
    TEST_RUN(test_zero_shot_captions);
    TEST_RUN(test_ambiguous);
    TEST_RUN(test_arms);
    TEST_RUN(test_errors);
    TEST_RUN(test_long_lines);
    TEST_RUN(test_quoting);
    return test_summary();
}
