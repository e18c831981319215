/* Class texts of the two methods, in the project's class order
 * (data/dataset.h): FineCLIPER's PN descriptors and DFER-CLIP's prompts with
 * learnable-context placeholders (dfer.md §1.6, verbatim class descriptors). */
#ifndef DFER_TEXT_PROMPTS_H
#define DFER_TEXT_PROMPTS_H

#include <stddef.h>

/* FineCLIPER: template with "{class}" replaced; negation "no" or "less" turns
 * "... of {class}." into "... of no {class}." (placed before the class word). */
void prompt_positive(const char *template_text, int cls, char *out, size_t n);
void prompt_negative(const char *template_text, const char *negation, int cls, char *out, size_t n);
/* EmoCLIP's class descriptions (dfer.md §3, verbatim), the class texts of the
 * zero-shot protocol. */
const char *prompt_emoclip(int cls);
/* DFER-CLIP: "X X ... X <class text>" with `contexts` placeholders ("end"), or with contexts / 2 of them before the
 * class text and the rest after it ("X X <class text> X X": middle, CoOp's split); kind is
 * descriptor | name | name_with_context | photo_of_name. Cut to fit n. */
void prompt_dfer_clip(const char *kind, int contexts, int middle, int cls, char *out, size_t n);
/* The placeholder token's id ("x</w>" = 343). */
#define PROMPT_PLACEHOLDER_ID 343

#endif
