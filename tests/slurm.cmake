# The Slurm path on a real local cluster (jobs/local_slurm.sh): sbatch runs a small matrix.
add_test(NAME slurm_sbatch_matrix
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(slurm_sbatch_matrix PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
# Preemption: SIGUSR1 to the tasks -> checkpoint, exit 3, requeue by the batch script, resume, completion.
add_test(NAME slurm_preempt_requeue
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} preempt)
set_tests_properties(slurm_preempt_requeue PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE)
# A job array of two runs of one matrix shares its jobs through the job locks.
add_test(NAME slurm_array_shared_matrix
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} array)
set_tests_properties(slurm_array_shared_matrix PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
