/* What a run read, for result.json's "inputs": each file's path, size and SHA-256, so that two results can be
 * told to come from the same weights, vocabulary, split files and descriptions or not (a results folder copied
 * off a cluster keeps it; file names alone do not tell a re-downloaded or fine-tuned checkpoint apart). */
#ifndef DFER_TRAIN_PROVENANCE_H
#define DFER_TRAIN_PROVENANCE_H

#include <cJSON.h>

#include "data/dataset.h"
#include "train/config.h"
#include "train/job_model.h"

/* {"weights": {"path", "file", "bytes", "sha256"}, "long_clip": ..., "vocab": ..., "train_split": {...,
 * "clips"}, "test_split": {..., "clips"}, "descriptions": ...}: the entries the run uses. A file that cannot
 * be read gets {"path", "error"} (the run read it already; the record does not stop it). Reads every byte of
 * each file: seconds for an L/14 checkpoint. */
cJSON *run_inputs_json(const Config *cfg, const JobModel *jm, const Dataset *train, const Dataset *test);
/* The digests of inputs (run_inputs_json) as one JSON object, {"weights": "<sha256>", "train_split": ...}, for a
 * checkpoint; "" when it does not fit n. */
void run_inputs_digests(const cJSON *inputs, char *out, size_t n);
/* The entries whose digest differs between a checkpoint's digests (run_inputs_digests; "" or an entry it lacks:
 * not compared) and inputs, named in what ("weights (sha256 1a2b3c4d... before, 5e6f7a8b... now)"); their count. */
int run_inputs_changed(const char *digests, const cJSON *inputs, char *what, size_t n);
/* Before a finished run's parameters are used with the files its config.ini names (dfer eval, predict, export):
 * -1 with a message when the CLIP weights or the Long-CLIP checkpoint there now differ from the ones it trained
 * with, a warning for (jm given) the vocabulary (a .gz, its text and merges.txt hold the same merges) (its
 * result.json's digests: another file at the same path gives other numbers without a word). A run without result.json,
 * or an entry it lacks, is not checked. Hashes each file (memoised). */
int run_check_model_inputs(const char *run_dir, const Config *cfg, const JobModel *jm, Err *err);
/* For a finished run the matrix skips: how many of its CLIP weights and Long-CLIP checkpoint are other files now than
 * its result.json records (the paths and both digests in what); files that cannot be read are not counted. */
int run_model_inputs_changed(const char *run_dir, const Config *cfg, char *what, size_t n);

#endif
