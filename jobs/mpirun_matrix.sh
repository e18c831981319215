#!/usr/bin/env bash
# A dfer job matrix on one machine: N ranks (default: the number of cores).
#   jobs/mpirun_matrix.sh MATRIX.ini [N] [RESULTS_DIR]
# Starting it again skips finished jobs and resumes the others; `dfer matrix --status
# MATRIX.ini [--results RESULTS_DIR]` shows from another shell where each job stands.
# Exit status 3: stopped by a signal (Ctrl-C, SIGTERM), checkpointed; 4: a rank made no progress for
# train.hang_minutes and said where it waited (docs/troubleshooting.md); after either, starting it
# again resumes.
set -euo pipefail
matrix=${1:?usage: jobs/mpirun_matrix.sh MATRIX.ini [N] [RESULTS_DIR]}
n=${2:-$(nproc)}
results=()
[ $# -ge 3 ] && results=(--results "$3")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun --oversubscribe -np "$n" "${DFER:-build/dfer}" matrix "$matrix" "${results[@]}"
