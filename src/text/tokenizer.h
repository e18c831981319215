/* The CLIP BPE tokenizer, byte-exact with OpenAI's simple_tokenizer.py
 * (clip.md §6), with two known differences:
 *  - ftfy.fix_text is omitted (no C equivalent, no Debian package). For
 *    printable ASCII and any text ftfy leaves unchanged the ids are identical;
 *    text that ftfy repairs can differ: mojibake ("cafÃ©"), ligatures ("ﬁ"),
 *    full-width letters, curly quotes, decomposed accents (ftfy applies NFC),
 *    and HTML entities that ftfy would already unescape before the two
 *    html.unescape passes.
 *  - Unicode data come from Debian's PCRE2 10.42 and libunistring 1.0
 *    (Unicode 14, as Python 3.11's str.lower). Characters first assigned in a
 *    later Unicode version (e.g. CJK extension H) are punctuation here but
 *    letters for a newer `regex` module.
 * Apart from those, every assigned code point in several contexts and random
 * texts with HTML references were checked against the Python reference.
 *
 * Pipeline: html.unescape twice -> strip -> collapse White_Space runs to one
 * space -> strip -> full lowercasing (libunistring + Python's final-sigma
 * rule) -> pre-tokenising pattern (PCRE2 with Unicode properties) -> UTF-8
 * bytes mapped to the 256 byte symbols -> BPE with the 48,894 merges. */
#ifndef DFER_TEXT_TOKENIZER_H
#define DFER_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"

#define CLIP_SOT 49406
#define CLIP_EOT 49407
#define CLIP_VOCAB_SIZE 49408
#define CLIP_VOCAB_FILE "bpe_simple_vocab_16e6.txt.gz"

typedef struct ClipTokenizer ClipTokenizer;

/* Reads the vocabulary (.txt.gz or plain text). Errors name the file. */
int clip_tokenizer_load(const char *vocab_path, ClipTokenizer **out, Err *err);
void clip_tokenizer_free(ClipTokenizer *tok);
/* SOT, ids..., EOT, without padding or truncation; *ids is malloc'ed. Safe to
 * call from several threads at once. Invalid UTF-8 is an error. */
int clip_tokenize(const ClipTokenizer *tok, const char *utf8_text, int32_t **ids, int *n, Err *err);
/* Framed to `context` ids with zero padding. Longer texts are an error naming
 * their length unless truncate != 0, which keeps the first `context` ids and
 * sets the last to EOT. */
int clip_tokenize_padded(const ClipTokenizer *tok, const char *utf8_text, int context, int truncate, int32_t *out,
                         Err *err);
/* ids [n] (SOT ... EOT, from clip_tokenize) framed to out [context]: the first `context` ids with the last set to
 * EOT when n > context, zero padding when n < context. context > 0 (checked: a programming error). */
void clip_frame_ids(const int32_t *ids, int n, int context, int32_t *out);
/* Hugging Face's copy of the same merges (a "#version: 0.2" line, then the merges in rank order), which its
 * CLIP checkpoint directories hold: clip_tokenizer_load reads it as the OpenAI file, with the same ids. */
#define CLIP_HF_MERGES_FILE "merges.txt"
/* Finds the vocabulary beside a checkpoint file or inside a checkpoint directory: CLIP_VOCAB_FILE, else
 * CLIP_HF_MERGES_FILE. */
int clip_vocab_find_beside(const char *checkpoint_path, char *out, size_t out_len);
/* The vocabulary a command uses: given (an option; NULL or "" when not given), else beside the weights, else
 * $DFER_VOCAB (set and not empty). The path goes into out; none is an error that says how to give one, naming
 * the command's option (e.g. "model.vocab", "--vocab") and the weights. */
int clip_vocab_resolve(const char *given, const char *weights, const char *option, char *out, size_t out_len, Err *err);
/* Text of ids (special tokens as <|startoftext|> / <|endoftext|>, "</w>" as a space). malloc'ed. */
char *clip_detokenize(const ClipTokenizer *tok, const int32_t *ids, int n);

#endif
