# The memory planner counts exactly what the model allocates, and plans the paper's backbones under 24 GiB.
add_test(NAME plan_memory COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/plan_check.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_SHARED_DIR})
set_tests_properties(plan_memory PROPERTIES TIMEOUT 300)
