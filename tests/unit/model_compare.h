/* Helpers of the tests that run one model two ways (BF16 against F32 on the CPU:
 * test_mixed_precision; the GPU against the CPU: test_cuda_step) and compare. */
#ifndef DFER_TEST_MODEL_COMPARE_H
#define DFER_TEST_MODEL_COMPARE_H

#include <stdint.h>

#include "model/params.h"

/* Prompt rows [classes, 77]: SOT, a few ids, EOT (the largest id), zeros; positions
 * 1..placeholders hold DFER-CLIP's context placeholder. */
void compare_prompts(int32_t *ids, int classes, int shift, int placeholders);
/* n floats offset + scale * N(0,1) from a seed (malloc'ed). */
float *compare_random_floats(size_t n, uint64_t seed, float scale, float offset);
/* Adds 0.05 N(0,1) to every parameter, keyed by its index: the same on any backend and dtype
 * (zero-initialised up-projections would otherwise hide whole adapters). */
void compare_perturb_params(ParamSet *ps);
/* Every trainable gradient of `other` against `ref` (same declarations): relative L2 error below
 * rel_tol and cosine above cos_min; a gradient that is zero in ref must be ~zero in other. */
void compare_param_grads(const char *what, ParamSet *ref, ParamSet *other, double rel_tol, double cos_min);
/* One step's loss (relative difference below loss_tol) and logits [n] (largest difference below
 * logits_tol times the largest reference logit); names say which side is which. */
void compare_step_outputs(const char *what, const char *ref_name, const char *other_name, double loss_ref,
                          double loss_other, const float *logits_ref, const float *logits_other, int n,
                          double loss_tol, double logits_tol);

#endif
