# PyTorch .pt checkpoints (both kinds) written by Debian's torch load to the original tensors.
add_test(NAME io_pytorch_checkpoints
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/io_pt.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${CMAKE_SOURCE_DIR})
set_tests_properties(io_pytorch_checkpoints PROPERTIES TIMEOUT 300)
