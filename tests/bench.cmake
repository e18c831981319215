# dfer bench on the CPU: every figure in its JSON, the model FLOPs against an independent recount,
# --device cuda without a GPU refused clearly, the PyTorch peer's figures (when torch is installed).
add_test(NAME bench_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_cli.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${DFER_SHARED_DIR})
set_tests_properties(bench_cli PROPERTIES TIMEOUT 300)
# dfer bench --profile-steps: the ops' FLOPs against the model's (tests/bench_profile.sh); the emulated
# and GPU cases are in tests/gpu.cmake.
add_test(NAME bench_profile
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_profile.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${DFER_SHARED_DIR} cpu)
set_tests_properties(bench_profile PROPERTIES TIMEOUT 300)
