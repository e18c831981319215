/* Per-clip descriptions for FineCLIPER's high level: imported from an MLLM's
 * output (then refined, text/refine.h) or generated from landmark dynamics
 * (text/verbalize.h), looked up by clip id when a sample is built.
 *
 * Two file formats, one description per line:
 *   JSONL  {"clip": "00042", "text": "At the beginning ..."}   (the clip id may
 *          be a JSON whole number, the clip number of DFEW or MAFW: 42 is read
 *          as their id "00042"; other fields are ignored)
 *   TSV    00042<TAB>At the beginning ...                       (the text is the
 *          rest of the line, tabs included)
 * A path ending in .jsonl/.json is JSONL, .tsv/.txt is TSV; any other name is
 * JSONL when its first non-blank line starts with '{'. Blank lines are skipped;
 * in TSV, lines starting with '#' too. Errors name file:line: malformed JSON,
 * a missing or mistyped "clip"/"text", an empty id, a line without a tab,
 * invalid UTF-8, a lone UTF-16 surrogate escape (\ud83d without its pair), a UTF-8 byte-order mark at the start
 * of a line other than the first (two files joined: refused, not stripped), and a duplicate id (with the line of
 * its first occurrence).
 * Entries keep the file's order; the lookup is a binary search over a sorted
 * index. */
#ifndef DFER_TEXT_DESCRIPTIONS_H
#define DFER_TEXT_DESCRIPTIONS_H

#include <stddef.h>

#include "core/check.h"

typedef struct Description {
    char *clip;
    char *text;
    int line; /* 1-based line in the file it came from; 0 when added in memory */
} Description;

typedef struct Descriptions {
    Description *items; /* in file (or insertion) order */
    int count, cap;
    int *order;         /* indices sorted by clip id; valid when indexed */
    int indexed;
    char source[512];   /* the file name, for messages */
} Descriptions;

typedef enum { DESC_FORMAT_AUTO = 0, DESC_FORMAT_JSONL, DESC_FORMAT_TSV } DescFormat;

/* Loads a file into d (initialised here; free with descriptions_free, also on
 * failure). Returns 0, or -1 with err naming file:line. */
int descriptions_load(const char *path, Descriptions *d, Err *err);
/* The same from memory; `name` is used in messages and for the format when
 * format is AUTO. */
int descriptions_parse(const char *name, const char *data, size_t len, DescFormat format, Descriptions *d, Err *err);

/* Building in memory: init, add (copies both strings), then index (checks for
 * duplicates; needed before descriptions_find). */
void descriptions_init(Descriptions *d);
void descriptions_add(Descriptions *d, const char *clip, const char *text, int line);
int descriptions_index(Descriptions *d, Err *err);
/* Replaces the text of entry i (copied). */
void descriptions_set_text(Descriptions *d, int i, const char *text);

/* The text of a clip, or NULL. d must be indexed (load does it). */
const char *descriptions_find(const Descriptions *d, const char *clip_id);
/* The entry index (file order) of a clip, or -1. */
int descriptions_lookup(const Descriptions *d, const char *clip_id);
int descriptions_count(const Descriptions *d);
/* Entry i in file order, 0 <= i < count. */
const Description *descriptions_at(const Descriptions *d, int i);

/* Writes {"clip": ..., "text": ...} lines in entry order, atomically
 * (temporary file + rename): a reader never sees half a file. */
int descriptions_write_jsonl(const char *path, const Descriptions *d, Err *err);
/* Refuses an output name that descriptions_load would read as tab-separated (.tsv, .txt): a file written as JSON
 * lines there could not be read back. descriptions_write_jsonl checks it; commands check it before their work. */
int descriptions_jsonl_name_check(const char *path, Err *err);

void descriptions_free(Descriptions *d);

#endif
