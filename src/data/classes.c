#include "data/classes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const k_class_names[DFER_MAX_CLASSES] = {"happiness", "sadness",  "neutral", "anger",
                                                     "surprise",  "disgust",  "fear",    "contempt",
                                                     "anxiety",   "helplessness", "disappointment"};

/* DFEW split CSVs: label 1..7 = Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear
 * (0 = not single-labelled, handled by the adapter, not a class). */
static const ClassEntry k_dfew[] = {{"Happy", 1, 0},    {"Sad", 2, 1},     {"Neutral", 3, 2}, {"Angry", 4, 3},
                                    {"Surprise", 5, 4}, {"Disgust", 6, 5}, {"Fear", 7, 6}};

/* FERV39k: emotion names as in the split files and folder names; numbers from
 * the official label_index.txt (alphabetical). */
static const ClassEntry k_ferv39k[] = {{"Angry", 0, 3},   {"Disgust", 1, 5}, {"Fear", 2, 6},    {"Happy", 3, 0},
                                       {"Neutral", 4, 2}, {"Sad", 5, 1},     {"Surprise", 6, 4}};

/* MAFW: the names of the split and caption files; native numbers as EmoCLIP and
 * MAE-DFER use them (the first seven alphabetical, then the four extra classes). */
static const ClassEntry k_mafw[] = {{"anger", 0, 3},        {"disgust", 1, 5},        {"fear", 2, 6},
                                    {"happiness", 3, 0},    {"neutral", 4, 2},        {"sadness", 5, 1},
                                    {"surprise", 6, 4},     {"contempt", 7, 7},       {"anxiety", 8, 8},
                                    {"helplessness", 9, 9}, {"disappointment", 10, 10}};

/* DFER-CLIP's annotation lists are already in the canonical order. */
static const ClassEntry k_list[] = {{"happiness", 0, 0},    {"sadness", 1, 1},        {"neutral", 2, 2},
                                    {"anger", 3, 3},        {"surprise", 4, 4},       {"disgust", 5, 5},
                                    {"fear", 6, 6},         {"contempt", 7, 7},       {"anxiety", 8, 8},
                                    {"helplessness", 9, 9}, {"disappointment", 10, 10}};

#define TABLE(d, src, n, e) {d, src, n, e, (int)(sizeof e / sizeof e[0])}
static const ClassTable k_tables[] = {
    TABLE("dfew", "DFEW split CSV labels 1..7 (Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear)", 7, k_dfew),
    TABLE("ferv39k", "FERV39k emotion names (label_index.txt: Angry 0 .. Surprise 6)", 7, k_ferv39k),
    TABLE("mafw", "MAFW label names (anger 0 .. surprise 6, contempt 7 .. disappointment 10)", 11, k_mafw),
    TABLE("list", "DFER-CLIP lists: 0-based labels already in DFER-CLIP order", 11, k_list),
};

const ClassTable *class_table(const char *dataset) {
    for (size_t i = 0; i < sizeof k_tables / sizeof k_tables[0]; i++)
        if (!strcmp(k_tables[i].dataset, dataset)) return &k_tables[i];
    return NULL;
}

int class_from_native_name(const ClassTable *t, const char *name) {
    for (int i = 0; i < t->count; i++)
        if (!strcmp(t->entries[i].native_name, name)) return t->entries[i].label;
    for (int i = 0; i < t->count; i++)
        if (!strcasecmp(t->entries[i].native_name, name)) return t->entries[i].label;
    return -1;
}

int class_from_native_number(const ClassTable *t, long number) {
    for (int i = 0; i < t->count; i++)
        if (t->entries[i].native_number == number) return t->entries[i].label;
    return -1;
}

int class_index(const char *canonical_name) {
    for (int i = 0; i < DFER_MAX_CLASSES; i++)
        if (!strcmp(k_class_names[i], canonical_name)) return i;
    return -1;
}

const char *class_order_text(int n, char *buf, size_t len) {
    size_t off = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < n && i < DFER_MAX_CLASSES && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k_class_names[i]);
    return buf;
}

const char *class_order_describe(int n, char *buf, size_t len) {
    size_t off = 0;
    if (!len) return buf;
    off = (size_t)snprintf(buf, len, "DFER-CLIP order:");
    for (int i = 0; i < n && i < DFER_MAX_CLASSES && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s %d %s", i ? "," : "", i, k_class_names[i]);
    return buf;
}
