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

#endif
