# dfer bench on the CPU: every figure in its JSON, the model FLOPs against an independent recount,
# --device cuda without a GPU refused clearly, the PyTorch peer's figures (when torch is installed).
add_test(NAME bench_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_cli.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${DFER_SHARED_DIR})
set_tests_properties(bench_cli PROPERTIES TIMEOUT 300)
