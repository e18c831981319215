#include "train/matrix.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ini_file.h"
#include "train/config.h"
#include "train/job_lock.h"

/* a [set] entry holds "section.key=value" with a value as long as the configuration takes */
_Static_assert(MATRIX_SET_BYTES >= CFG_STR + 64 + 2, "MATRIX_SET_BYTES: room for a key and a CFG_STR value");

int dataset_has_folds(const char *dataset) { return !strcmp(dataset, "dfew") || !strcmp(dataset, "mafw"); }

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
    return s;
}

/* Splits "a=b, c=d" into entries appended to out[*n..]; with need_value, every
 * item must have "=". Appending lets a long list continue on indented lines
 * (inih passes each continuation line as another value of the same key). */
static int parse_entries(const char *key, const char *value, MatrixEntry *out, int *n, int need_value, Err *err) {
    char buf[4096];
    if (strlen(value) >= sizeof buf) return err_set(err, "matrix.%s is too long", key);
    strcpy(buf, value);
    char *save = buf;
    /* split at the commas outside quotes; the name and the value of an entry are each unquoted as an INI value is
     * (dfew = "/data/my dfew", "a,b" = x) */
    for (char *tok; (tok = ini_list_next(&save));) {
        if (!*tok) continue;
        if (*n == MATRIX_MAX_AXIS) return err_set(err, "matrix.%s has more than %d entries", key, MATRIX_MAX_AXIS);
        char *eq = tok;
        for (int quoted = 0; *eq && (quoted || *eq != '='); eq++)
            if (*eq == '"') quoted = !quoted;
        if (!*eq) eq = NULL;
        if (need_value && !eq) return err_set(err, "matrix.%s: '%s' should be NAME=VALUE", key, tok);
        if (eq) *eq = 0;
        char *name = trim(tok), *val = eq ? trim(eq + 1) : "";
        const char *why = ini_unquote(name);
        if (!why) why = ini_unquote(val);
        if (why) return err_set(err, "matrix.%s: the entry '%s%s%s': %s", key, name, eq ? "=" : "", val, why);
        if (strlen(name) >= sizeof out[0].name || strlen(val) >= sizeof out[0].value)
            return err_set(err, "matrix.%s: entry '%s' is too long", key, name);
        for (int i = 0; i < *n; i++)
            if (!strcmp(out[i].name, name)) return err_set(err, "matrix.%s: '%s' appears twice", key, name);
        strcpy(out[*n].name, name);
        strcpy(out[*n].value, val);
        (*n)++;
    }
    if (*n == 0) return err_set(err, "matrix.%s is empty", key);
    return 0;
}

static int parse_ints(const char *key, const char *value, int *out, int max, int *n, Err *err) {
    MatrixEntry tmp[MATRIX_MAX_AXIS];
    int first = *n;
    for (int i = 0; i < *n; i++) snprintf(tmp[i].name, sizeof tmp[i].name, "%d", out[i]);
    if (parse_entries(key, value, tmp, n, 0, err) != 0) return -1;
    if (*n > max) return err_set(err, "matrix.%s has more than %d values", key, max);
    for (int i = first; i < *n; i++) {
        char *end;
        errno = 0;
        long v = strtol(tmp[i].name, &end, 10);
        if (*end || end == tmp[i].name || errno == ERANGE || v < 0 || v > 1000000000)
            return err_set(err, "matrix.%s: '%s' is not a whole number from 0 to 10^9", key, tmp[i].name);
        out[i] = (int)v;
        /* compared as numbers: "1" and "01" would name the same job folder */
        for (int k = 0; k < i; k++)
            if (out[k] == out[i]) return err_set(err, "matrix.%s: %d appears twice ('%s')", key, out[i], tmp[i].name);
    }
    return 0;
}

/* Names that become parts of job ids, and so of folder names: letters, digits and . _ - (and, in a method
 * entry, the + and : of its variant). A '/' made a nested folder the tables never read. */
static int check_names(const char *key, const MatrixEntry *e, int n, const char *extra, Err *err) {
    for (int i = 0; i < n; i++)
        for (const char *p = e[i].name; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-", *p) && !strchr(extra, *p))
                return err_set(
                    err, "matrix.%s: the name '%s' may hold letters, digits and . _ -%s only (it names job folders)",
                    key, e[i].name, *extra ? " + :" : "");
    return 0;
}

/* "zeroshot:A->B" or "zeroshot:A->B/CAPTIONS" with A and B lower-case names; captions gets the text after the '/'
 * ("" without one; matrix_load checks it is a kind of captions). */
static int parse_zero_shot(const char *s, char a[32], char b[32], char captions[32]) {
    int end = -1;
    captions[0] = '\0';
    if (sscanf(s, "zeroshot:%31[a-z0-9]->%31[a-z0-9]%n", a, b, &end) != 2 || end < 0) return 0;
    if (s[end] == '/') snprintf(captions, 32, "%.31s", s + end + 1);
    return s[end] == '\0' || s[end] == '/';
}

/* A setting's /CAPTIONS: one of data.captions's values but auto (what a setting without one means). */
static int check_setting_captions(const char *path, const char *setting, const char *captions, Err *err) {
    const char *choices = config_key_choices("data", "captions");
    CHECK(choices != NULL, "data.captions has no list of values");
    /* every value fits Job.captions (as Config.captions, the same 16 bytes) */
    if (strcmp(captions, "auto") && config_choice_is(choices, captions) &&
        strlen(captions) < sizeof((Job *)0)->captions)
        return 0;
    char allowed[128] = "";
    size_t used = 0;
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (!(len == 4 && !strncmp(p, "auto", 4)))
            used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%.*s", used ? ", " : "", (int)len, p);
        p += len + (p[len] == '|');
        if (used >= sizeof allowed) break; /* a few short words: never */
    }
    return err_set(err, "%s: setting '%s': '%s' is not a kind of captions: after the '/' comes one of %s "
                        "(data.captions's values; without '/CAPTIONS' the method file's data.captions holds)",
                   path, setting, captions, allowed);
}

/* Keys the matrix's axes set for every job: a [set] of one of them would be overwritten without a word. */
static const char *axis_owning(const char *key) {
    static const char *const owned[][2] = {
        {"model.method", "methods"},    {"model.variant", "methods (finecliper:VARIANT)"},
        {"model.weights", "backbones"}, {"data.dataset", "datasets"},
        {"data.root", "datasets"},      {"data.fold", "folds"},
        {"train.seed", "seeds"}};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (!strcmp(key, owned[i][0])) return owned[i][1];
    return NULL;
}

static int on_key(void *user, int line, const char *section, const char *name, const char *value, Err *err) {
    Matrix *m = user;
    int rc = 0;
    /* [set@ARM]: keys for the jobs of that arm alone */
    const char *arm = !strncmp(section, "set@", 4) ? section + 4 : NULL;
    if (!strcmp(section, "set") || arm) {
        /* the key and its value checked here, where the error gets the file and line (applied to each job, it
         * named neither, once a job) */
        const char *dot = strchr(name, '.');
        int section_len = dot ? (int)(dot - name) : 0;
        char key_section[64];
        Config *scratch = xmalloc(sizeof *scratch);
        config_defaults(scratch);
        snprintf(key_section, sizeof key_section, "%.*s", section_len, name);
        /* which arm is matrix_load's to check, once the methods are read: here only that there is room for it */
        if (arm && (!*arm || strlen(arm) >= sizeof m->set_arms[0]))
            rc = err_set(err, "[%s]: after 'set@' comes an arm of matrix.methods (finecliper:low@less: [set@less])",
                         section);
        else if (!dot || section_len >= (int)sizeof key_section)
            rc = err_set(err, "[%s] %s: a key is section.name (train.epochs, model.variant, ...)", section, name);
        else if (axis_owning(name))
            rc = err_set(err, "[%s] %s: the matrix sets it for each job from matrix.%s", section, name,
                         axis_owning(name));
        else if (config_set_key(scratch, key_section, dot + 1, value, NULL, err) != 0)
            rc = err_prefix(err, "[%s]: ", section);
        else if (m->n_sets == MATRIX_MAX_SETS) rc = err_set(err, "more than %d [set] keys", MATRIX_MAX_SETS);
        else if ((size_t)snprintf(m->sets[m->n_sets], sizeof m->sets[0], "%s=%s", name, value) >= sizeof m->sets[0])
            rc = err_set(err, "[%s] %s is too long (%zu characters)", section, name, strlen(value));
        else {
            snprintf(m->set_arms[m->n_sets], sizeof m->set_arms[0], "%s", arm ? arm : "");
            m->set_lines[m->n_sets++] = line;
        }
        free(scratch);
    } else if (strcmp(section, "matrix")) {
        rc = err_set(err, "unknown section [%s] (a matrix file has [matrix], [set] and [set@ARM])", section);
    } else if (!strcmp(name, "name")) {
        if (strlen(value) >= sizeof m->name || !*value || strchr(value, '/') || !strcmp(value, ".") ||
            !strcmp(value, ".."))
            rc = err_set(err, "matrix.name '%s' must be a short name without '/', not . or .. (it names the results "
                              "folder)", value);
        else strcpy(m->name, value);
    } else if (!strcmp(name, "ranks_per_job")) {
        char *end;
        long n = strtol(value, &end, 10);
        if (end == value || *end || n < 1 || n > 1 << 20)
            rc = err_set(err, "matrix.ranks_per_job must be a whole number of ranks, at least 1, not '%s'", value);
        else m->ranks_per_job = (int)n;
    } else if (!strcmp(name, "stale_lock_minutes")) {
        char *end;
        m->stale_lock_minutes = strtod(value, &end);
        /* a live run touches its locks every JOB_LOCK_HEARTBEAT_S: a shorter limit takes over live jobs */
        double least = 3.0 * JOB_LOCK_HEARTBEAT_S / 60.0;
        if (end == value || *end || !isfinite(m->stale_lock_minutes) || m->stale_lock_minutes < least)
            rc = err_set(err, "matrix.stale_lock_minutes must be a number of minutes of at least %g (three of the "
                              "locks' %d s heartbeats), not '%s'", least, (int)JOB_LOCK_HEARTBEAT_S, value);
    } else if (!strcmp(name, "methods")) {
        rc = parse_entries(name, value, m->methods, &m->n_methods, 1, err);
    } else if (!strcmp(name, "datasets")) {
        rc = parse_entries(name, value, m->datasets, &m->n_datasets, 1, err);
    } else if (!strcmp(name, "backbones")) {
        rc = parse_entries(name, value, m->backbones, &m->n_backbones, 1, err);
    } else if (!strcmp(name, "folds")) {
        rc = parse_ints(name, value, m->folds, 8, &m->n_folds, err);
    } else if (!strcmp(name, "seeds")) {
        rc = parse_ints(name, value, m->seeds, MATRIX_MAX_AXIS, &m->n_seeds, err);
    } else if (!strcmp(name, "settings")) {
        MatrixEntry tmp[MATRIX_MAX_AXIS];
        int first = m->n_settings;
        for (int i = 0; i < first; i++) snprintf(tmp[i].name, sizeof tmp[i].name, "%s", m->settings[i]);
        rc = parse_entries(name, value, tmp, &m->n_settings, 0, err);
        for (int i = first; rc == 0 && i < m->n_settings; i++)
            snprintf(m->settings[i], sizeof m->settings[0], "%.63s", tmp[i].name);
    } else {
        rc = err_set(err, "unknown key matrix.%s", name);
    }
    return rc != 0 ? -1 : 0;
}

static const MatrixEntry *find_dataset(const Matrix *m, const char *name) {
    for (int i = 0; i < m->n_datasets; i++)
        if (!strcmp(m->datasets[i].name, name)) return &m->datasets[i];
    return NULL;
}

static int known_dataset(const char *name) {
    return !strcmp(name, "dfew") || !strcmp(name, "ferv39k") || !strcmp(name, "mafw");
}

int matrix_load(const char *path, Matrix *m, Err *err) {
    memset(m, 0, sizeof *m);
    m->ranks_per_job = 1;
    m->stale_lock_minutes = 10;
    snprintf(m->path, sizeof m->path, "%s", path);
    /* the axes are lists, which may go on over indented lines; a continuation of any other key is refused */
    static const char *const axes[] = {"matrix.methods", "matrix.datasets", "matrix.backbones", "matrix.folds",
                                       "matrix.seeds",   "matrix.settings", NULL};
    static const char *const sections[] = {"matrix", "set", "set@*", NULL};
    if (ini_file_load(path, "matrix file", axes, sections, on_key, m, err) != 0) return -1;
    /* defaults of the axes a file leaves out */
    if (!m->n_folds) m->folds[0] = 1, m->n_folds = 1;
    if (!m->n_seeds) m->seeds[0] = 1, m->n_seeds = 1;
    if (!m->n_settings) strcpy(m->settings[0], "supervised"), m->n_settings = 1;
    if (!m->name[0]) return err_set(err, "%s: matrix.name is missing", path);
    if (!m->n_methods || !m->n_datasets || !m->n_backbones)
        return err_set(err, "%s: matrix.methods, matrix.datasets and matrix.backbones are required", path);
    for (int i = 0; i < m->n_datasets; i++)
        if (!known_dataset(m->datasets[i].name))
            return err_set(err, "%s: dataset '%s' is not one of dfew, ferv39k, mafw", path, m->datasets[i].name);
    for (int i = 0; i < m->n_settings; i++) {
        const char *s = m->settings[i];
        if (!strcmp(s, "supervised")) continue;
        if (!strncmp(s, "supervised/", 11))
            return err_set(err, "%s: setting '%s': a kind of captions is for zero-shot settings only "
                                "(zeroshot:A->B/CAPTIONS; supervised training learns from the labels)", path, s);
        char a[32], b[32], captions[32];
        if (!parse_zero_shot(s, a, b, captions))
            return err_set(err, "%s: setting '%s' is neither supervised nor zeroshot:A->B[/CAPTIONS]", path, s);
        if (!find_dataset(m, a) || !find_dataset(m, b))
            return err_set(err, "%s: setting '%s' names a dataset not listed in matrix.datasets", path, s);
        if (strchr(s, '/') && check_setting_captions(path, s, captions, err) != 0) return -1;
    }
    for (int i = 0; i < m->n_folds; i++)
        if (m->folds[i] < 1 || m->folds[i] > 5) return err_set(err, "%s: fold %d is not in 1..5", path, m->folds[i]);
    for (int i = 0; i < m->n_methods; i++) { /* only FineCLIPER has variants: dfer_clip:low+mid would train DFER-CLIP */
        const char *name = m->methods[i].name, *colon = strchr(name, ':'), *at = strchr(name, '@');
        /* the arm, last: a name of its own (it becomes part of the job folder's name after "--") */
        if (at && (!at[1] || strpbrk(at + 1, "@:+") || at == name))
            return err_set(err, "%s: methods entry '%s': an arm comes last, once, and is a name of letters, digits "
                                "and . _ - (finecliper:low@less)", path, name);
        if (colon && strncmp(name, "finecliper:", 11))
            return err_set(err, "%s: methods entry '%s': only finecliper takes a variant (finecliper:low+mid)", path,
                           name);
    }
    for (int i = 0; i < m->n_sets; i++) { /* a [set@ARM] of an arm no entry has would change nothing, unsaid */
        int named = !m->set_arms[i][0];
        for (int k = 0; k < m->n_methods && !named; k++) {
            const char *at = strchr(m->methods[k].name, '@');
            named = at && !strcmp(at + 1, m->set_arms[i]);
        }
        if (!named)
            return err_set(err, "%s:%d: [set@%s]: no entry of matrix.methods has the arm '%s' "
                                "(finecliper:low@%s=FILE)", path, m->set_lines[i], m->set_arms[i], m->set_arms[i],
                           m->set_arms[i]);
    }
    if (check_names("methods", m->methods, m->n_methods, "+:@", err) != 0 ||
        check_names("backbones", m->backbones, m->n_backbones, "", err) != 0)
        return err_prefix(err, "%s: ", path);
    return 0;
}

static void add_job(Job **jobs, int *n, int *cap, const Job *j) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *jobs = xrealloc(*jobs, (size_t)*cap * sizeof **jobs);
    }
    (*jobs)[(*n)++] = *j;
}

/* "finecliper:low+mid@arm" into its method, variant (FineCLIPER's low where the entry names none) and arm. */
static void split_method(const char *entry, Job *j) {
    const char *at = strchr(entry, '@');
    size_t len = at ? (size_t)(at - entry) : strlen(entry);
    snprintf(j->arm, sizeof j->arm, "%s", at ? at + 1 : "");
    const char *colon = memchr(entry, ':', len);
    size_t mlen = colon ? (size_t)(colon - entry) : len;
    snprintf(j->method, sizeof j->method, "%.*s", (int)mlen, entry);
    if (colon) snprintf(j->variant, sizeof j->variant, "%.*s", (int)(len - mlen - 1), colon + 1);
    else snprintf(j->variant, sizeof j->variant, "%s", !strcmp(j->method, "finecliper") ? "low" : "");
}

static int by_id(const void *a, const void *b) {
    return strcmp((*(const Job *const *)a)->id, (*(const Job *const *)b)->id);
}

/* Two entries that mean the same job ("finecliper" and "finecliper:low") would share one folder: the second
 * would find the first's result and never run. */
static int check_unique_ids(const Matrix *m, const Job *jobs, int n, Err *err) {
    const Job **sorted = xmalloc((size_t)(n ? n : 1) * sizeof *sorted);
    for (int i = 0; i < n; i++) sorted[i] = &jobs[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_id);
    int rc = 0;
    for (int i = 1; i < n && rc == 0; i++)
        if (!strcmp(sorted[i - 1]->id, sorted[i]->id))
            rc = err_set(err, "%s: two entries of the matrix make the same job %s (methods '%s' and '%s': a FineCLIPER "
                              "entry without a variant is finecliper:low)",
                         m->path, sorted[i]->id, sorted[i - 1]->method_entry, sorted[i]->method_entry);
    free(sorted);
    return rc;
}

int matrix_expand(const Matrix *m, Job **jobs, int *n_jobs, Err *err) {
    *jobs = NULL;
    *n_jobs = 0;
    int cap = 0, id_cut = 0;
    for (int s = 0; s < m->n_settings; s++)
        for (int mi = 0; mi < m->n_methods; mi++)
            for (int bi = 0; bi < m->n_backbones; bi++)
                for (int si = 0; si < m->n_seeds; si++) {
                    Job j;
                    memset(&j, 0, sizeof j);
                    split_method(m->methods[mi].name, &j);
                    snprintf(j.method_entry, sizeof j.method_entry, "%s", m->methods[mi].name);
                    snprintf(j.config, sizeof j.config, "%s", m->methods[mi].value);
                    snprintf(j.backbone, sizeof j.backbone, "%s", m->backbones[bi].name);
                    snprintf(j.weights, sizeof j.weights, "%s", m->backbones[bi].value);
                    j.seed = m->seeds[si];
                    char method_id[sizeof j.method + sizeof j.variant + sizeof j.arm + 4];
                    snprintf(method_id, sizeof method_id, "%s%s%s%s%s", j.method, j.variant[0] ? "-" : "", j.variant,
                             j.arm[0] ? "--" : "", j.arm);
                    for (char *p = method_id; *p; p++)
                        if (*p == '+') *p = '_';
                    if (!strcmp(m->settings[s], "supervised")) {
                        strcpy(j.setting, "supervised");
                        for (int di = 0; di < m->n_datasets; di++) {
                            const MatrixEntry *d = &m->datasets[di];
                            snprintf(j.dataset, sizeof j.dataset, "%s", d->name);
                            snprintf(j.root, sizeof j.root, "%s", d->value);
                            snprintf(j.eval_dataset, sizeof j.eval_dataset, "%s", d->name);
                            snprintf(j.eval_root, sizeof j.eval_root, "%s", d->value);
                            int nf = dataset_has_folds(d->name) ? m->n_folds : 1;
                            for (int fi = 0; fi < nf; fi++) {
                                j.fold = dataset_has_folds(d->name) ? m->folds[fi] : 0;
                                snprintf(j.id, sizeof j.id, "%s__%s__f%d__%s__s%d", method_id, d->name, j.fold,
                                         j.backbone, j.seed);
                                add_job(jobs, n_jobs, &cap, &j);
                            }
                        }
                    } else {
                        char a[32], b[32], captions[32];
                        parse_zero_shot(m->settings[s], a, b, captions);
                        const MatrixEntry *da = find_dataset(m, a), *db = find_dataset(m, b);
                        strcpy(j.setting, "zeroshot");
                        snprintf(j.captions, sizeof j.captions, "%s", captions);
                        /* the setting's part of the id: zs-A-B, or zs-A-B-CAPTIONS where the setting names its
                         * captions (a setting without them keeps the id its results folders have) */
                        char zs[100];
                        snprintf(zs, sizeof zs, "zs-%s-%s%s%s", a, b, captions[0] ? "-" : "", captions);
                        snprintf(j.dataset, sizeof j.dataset, "%s", a);
                        snprintf(j.root, sizeof j.root, "%s", da->value);
                        snprintf(j.eval_dataset, sizeof j.eval_dataset, "%s", b);
                        snprintf(j.eval_root, sizeof j.eval_root, "%s", db->value);
                        if (!strcmp(a, b) && dataset_has_folds(a)) {
                            /* A->A: one fold's other test splits are in its training split, so a job per fold,
                             * tested on its own fold's test split (data.fold, no data.eval_folds), as supervised
                             * runs are; the table averages the folds */
                            for (int fi = 0; fi < m->n_folds; fi++) {
                                j.fold = m->folds[fi];
                                id_cut |= snprintf(j.id, sizeof j.id, "%s__%s__f%d__%s__s%d", method_id, zs, j.fold,
                                                   j.backbone, j.seed) >= (int)sizeof j.id;
                                add_job(jobs, n_jobs, &cap, &j);
                            }
                        } else {
                            j.fold = dataset_has_folds(a) ? 1 : 0;
                            /* the target's folds: each one's test split scored alone (data.eval_folds) */
                            j.n_eval_folds = dataset_has_folds(b) ? m->n_folds : 0;
                            memcpy(j.eval_folds, m->folds, (size_t)j.n_eval_folds * sizeof *j.eval_folds);
                            id_cut |= snprintf(j.id, sizeof j.id, "%s__%s__%s__s%d", method_id, zs, j.backbone,
                                               j.seed) >= (int)sizeof j.id;
                            add_job(jobs, n_jobs, &cap, &j);
                        }
                    }
                }
    /* names of at most 63 characters each make ids well within Job.id: a cut one would name another's folder */
    if (id_cut) err_set(err, "%s: a job id is longer than %zu characters", m->path, sizeof(*jobs)->id - 1);
    if (id_cut || check_unique_ids(m, *jobs, *n_jobs, err) != 0) {
        free(*jobs);
        *jobs = NULL, *n_jobs = 0;
        return -1;
    }
    return 0;
}
