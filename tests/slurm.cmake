# The Slurm path on a real local cluster (jobs/local_slurm.sh): sbatch runs a small matrix.
add_test(NAME slurm_sbatch_matrix
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(slurm_sbatch_matrix PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
# Preemption: SIGUSR1 to the tasks -> checkpoint, exit 3, requeue by the batch script, resume, completion.
add_test(NAME slurm_preempt_requeue
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} preempt)
set_tests_properties(slurm_preempt_requeue PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
# A job array of two runs of one matrix shares its jobs through the job locks.
add_test(NAME slurm_array_shared_matrix
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} array)
set_tests_properties(slurm_array_shared_matrix PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
# A hung task (SIGSTOP) of a 2-rank group: the other rank's watchdog exits 4, srun ends the frozen task,
# the batch script requeues on status 4, the requeued job resumes and completes.
add_test(NAME slurm_hang_requeue
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} hang)
set_tests_properties(slurm_hang_requeue PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
# A suspended job (scontrol suspend: SIGSTOP to every task, as gang scheduling does) has not hung: resumed
# past its hang limit, it completes without a watchdog firing or a requeue.
add_test(NAME slurm_suspend_resume
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_matrix.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} suspend)
set_tests_properties(slurm_suspend_resume PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
# dfer prep and dfer train as Slurm jobs: SIGUSR1 before the time limit -> exit 3, requeue, completion
# (prep keeps its tracks, train resumes bitwise).
foreach(mode prep train)
  add_test(NAME slurm_${mode}_requeue
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm_batch.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${mode})
  set_tests_properties(slurm_${mode}_requeue PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endforeach()
