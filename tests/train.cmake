# Training: resume gives bitwise-identical parameters; bad inputs get clear errors.
add_test(NAME train_resume_bitwise
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_resume.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_resume_bitwise PROPERTIES TIMEOUT 900)
# A checkpoint whose position is out of range, fractional or no number is refused on resume, naming the field.
add_test(NAME train_resume_position
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_resume_position.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_resume_position PROPERTIES TIMEOUT 300)
add_test(NAME train_checkpoint_damaged
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_checkpoint_damaged.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_checkpoint_damaged PROPERTIES TIMEOUT 600)
# Data-parallel equivalence over 1, 2 and 4 MPI ranks.
add_test(NAME train_data_parallel_equivalence
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_dp.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_data_parallel_equivalence PROPERTIES TIMEOUT 900)
# PyTorch parity of both models' training step and of 10 SGD steps (F64).
add_test(NAME train_models_parity_torch
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/models_parity.sh $<TARGET_FILE:model_dump> ${DFER_PYTHON} ${CMAKE_BINARY_DIR}/dfer ${DFER_SHARED_DIR})
set_tests_properties(train_models_parity_torch PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
# Bad input to dfer train and dfer eval: clear messages, non-zero exits; eval of a finished run.
add_test(NAME train_bad_input
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_bad_input.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(train_bad_input PROPERTIES TIMEOUT 600)
add_test(NAME eval_class_subset
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/eval_class_subset.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(eval_class_subset PROPERTIES TIMEOUT 600)
add_test(NAME export_dtype
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/export_dtype.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(export_dtype PROPERTIES TIMEOUT 600)
# A run stopped inside a logging window holding a skipped non-finite step resumes (its position stayed JSON).
add_test(NAME train_nonfinite_resume
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_nonfinite_resume.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_nonfinite_resume PROPERTIES TIMEOUT 300)
# The matrix under mpirun (4 ranks, 2 groups) killed midway and restarted ends as an uninterrupted run.
add_test(NAME matrix_kill_restart
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_restart.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_kill_restart PROPERTIES TIMEOUT 600)
# Ranks that read different matrix files (a missing one, fewer folds, another [set]) stop at once, naming the file.
add_test(NAME matrix_ranks_disagree
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_ranks_disagree.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_ranks_disagree PROPERTIES TIMEOUT 600)
# A number of ranks that matrix.ranks_per_job does not divide: an error naming the file and the key, on every rank.
add_test(NAME matrix_ranks_per_job
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_ranks_per_job.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR})
set_tests_properties(matrix_ranks_per_job PROPERTIES TIMEOUT 300)
# A zero-shot job tests the target's test split of every fold of the matrix, each scored alone, UAR/WAR their mean;
# dfer eval --dataset/--folds agrees; killed and restarted it ends as an uninterrupted run.
add_test(NAME matrix_zeroshot_folds
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_zeroshot.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(matrix_zeroshot_folds PROPERTIES TIMEOUT 300)
# zeroshot:mafw->mafw on folds 1, 2: a job per fold, each tested on its own fold's test split; Table 3's cell their mean.
add_test(NAME matrix_zeroshot_self
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_zeroshot_self.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(matrix_zeroshot_self PROPERTIES TIMEOUT 120)
# zeroshot:mafw->dfew and zeroshot:mafw->dfew/descriptions in one matrix: two jobs, the second trained on the
# descriptions (config.ini, result.json, jobs.json say so); dfer table's Table 3 has a MAFW row of each kind.
add_test(NAME matrix_zeroshot_captions
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_zeroshot_captions.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(matrix_zeroshot_captions PROPERTIES TIMEOUT 120)
# The paper's ablations in one matrix: arms of one method file (finecliper:low@less with [set@less]), each training
# its section's keys; ids, jobs.json, --status --json and result.json name arm and ablation; Tables 7 and 9 printed.
add_test(NAME matrix_arms
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_arms.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(matrix_arms PROPERTIES TIMEOUT 180)
# A rank failing alone ends the matrix promptly with its message (not a hang); a second start resumes the job.
add_test(NAME matrix_rank_failure
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_rank_failure.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_rank_failure PROPERTIES TIMEOUT 600)
# jobs/slurm/dfer.sbatch's hang count with stand-ins for srun and scontrol: kept across hang requeues, removed
# when the job ends for good.
add_test(NAME sbatch_hang_count COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/sbatch_hang_count.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(sbatch_hang_count PROPERTIES TIMEOUT 60)
# jobs/mpirun_matrix.sh stopped by SIGUSR1 and by SIGTERM: the ranks checkpoint, status 3, and a second start finishes.
add_test(NAME matrix_signal
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_signal.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_signal PROPERTIES TIMEOUT 600)
# dfer matrix --status before, after and during a real matrix (a failing job, a stopped one, the estimate).
# What a run leaves: its inputs' digests in result.json; every test clip's prediction (training's predictions.csv,
# dfer eval --predictions on 1 and 2 ranks, --best), an unreadable test clip left out of the scores.
add_test(NAME run_records
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run_records.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(run_records PROPERTIES TIMEOUT 300)

# dfer matrix --check: each job's inputs (weights, vocabulary, descriptions, tracks, splits) before submitting.
add_test(NAME matrix_check
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_check.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_check PROPERTIES TIMEOUT 300)

add_test(NAME matrix_status
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_status.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_status PROPERTIES TIMEOUT 300)
# Two runs of one matrix share its jobs through job locks; stale locks are taken over, and a live run whose lock was
# taken over leaves its job.
add_test(NAME matrix_shared_runs
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_lock.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR}
                 $<TARGET_FILE:stop_in_fsync>)
set_tests_properties(matrix_shared_runs PROPERTIES TIMEOUT 300)
# A job whose lock the run cannot claim (an error, not another run's live lock): nothing written into its folder,
# which another run may hold; failed in the run's log, summary and exit status.
add_test(NAME matrix_claim_failure
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_claim_failure.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_claim_failure PROPERTIES TIMEOUT 300)
# A results folder belongs to one matrix file: another matrix with other jobs is refused there (naming both files and
# the jobs that differ); one with the same jobs shares it; the matrix edited keeps it.
add_test(NAME matrix_results_owner
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_results_owner.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(matrix_results_owner PROPERTIES TIMEOUT 300)
# Two matrix files with other jobs starting at the same instant on a new results folder: one alone takes it (its
# matrix.json made exclusively), the other is refused, whichever point of the other's start it reaches.
add_test(NAME matrix_results_race
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/matrix_results_race.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR}
                 ${DFER_SHARED_DIR} $<TARGET_FILE:stop_in_fsync>)
set_tests_properties(matrix_results_race PROPERTIES TIMEOUT 300)
# Every shipped config and matrix is valid (paper matrices, demo, synth).
add_test(NAME configs_valid COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/configs_check.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR})
# The paper configs resolve to the recipes the papers state (DFER-CLIP's in full, FineCLIPER's stated parts) and the
# paper matrices hold the folds, seeds and backbones the tables average.
add_test(NAME paper_recipe
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/paper_recipe.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR})
# Learning on the synthetic benchmark: DFER-CLIP from a random CLIP, then FineCLIPER on its exported encoder.
add_test(NAME train_learning_synth
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_learning.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(train_learning_synth PROPERTIES TIMEOUT 1500)
# data.uint8_frames: uint8 pixels normalised by the model (op_normalize_images) train to bitwise the same F32
# parameters and evaluation as the loader's normalised floats (FineCLIPER low and low+mid, DFER-CLIP).
add_test(NAME train_uint8_frames_bitwise
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_uint8.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_uint8_frames_bitwise PROPERTIES TIMEOUT 900)
# A full disk mid-run (a tmpfs filled up): clear error, last checkpoint intact, resume bitwise, each step logged once;
# a 2-rank matrix group on it ends the job on both ranks (no hang) and starts no further job.
add_test(NAME train_disk_full
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_disk_full.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_disk_full PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77)
# A hung rank (one rank of a group frozen with SIGSTOP): the watchdog names the phase, the run ends with
# status 4 instead of waiting for the time limit, and resumes bitwise; the same inside a 2-rank matrix.
add_test(NAME train_hang_watchdog
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_hang.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_hang_watchdog PROPERTIES TIMEOUT 900)
# dfer eval under the watchdog: a dataset of named pipes ends it with status 4, not never
add_test(NAME eval_hang_watchdog COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/eval_hang.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_SHARED_DIR})
set_tests_properties(eval_hang_watchdog PROPERTIES TIMEOUT 300)
