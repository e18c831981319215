/* The text clean-up CLIP applies before pre-tokenising (clip.md §6 step 4),
 * as OpenAI's simple_tokenizer.py does it, minus ftfy.fix_text (no C
 * equivalent; see tokenizer.h). */
#ifndef DFER_TEXT_NORMALIZE_H
#define DFER_TEXT_NORMALIZE_H

#include "core/check.h"

/* html.unescape twice -> str.strip() -> regex `\s+` runs to one space ->
 * str.strip() -> str.lower(). Input must be valid UTF-8 (an error otherwise,
 * giving the byte offset). Returns a malloc'ed UTF-8 string, or NULL. */
char *clip_normalize(const char *utf8_text, Err *err);

#endif
