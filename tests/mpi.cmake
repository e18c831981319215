# MPI tests: run under mpirun with several world sizes (oversubscribed on 2 cores).
find_program(MPIRUN mpirun REQUIRED)
add_executable(mpi_collectives ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_collectives.c)
target_link_libraries(mpi_collectives PRIVATE dferlib)
set(DFER_MPIRUN ${MPIRUN} --oversubscribe --allow-run-as-root --mca btl self,vader)
add_test(NAME mpi_collectives_singleton COMMAND mpi_collectives)
add_test(NAME mpi_collectives_np2 COMMAND ${DFER_MPIRUN} -np 2 $<TARGET_FILE:mpi_collectives>)
add_test(NAME mpi_collectives_np4_groups2 COMMAND ${DFER_MPIRUN} -np 4 $<TARGET_FILE:mpi_collectives> 2)
set_tests_properties(mpi_collectives_singleton mpi_collectives_np2 mpi_collectives_np4_groups2 PROPERTIES TIMEOUT 120
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
