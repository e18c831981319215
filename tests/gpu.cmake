# GPU tests: labelled `gpu`, so `ctest -L gpu` runs them all (scripts/gpu_check does, on a
# lent GPU machine; docs/gpu.md). Each exits 77 with "SKIP: no GPU (...)" where there is no
# GPU or the build has no CUDA, which ctest counts as skipped, not failed.
#
# test_cuda_ops (tests/unit/test_cuda_ops.c) is added by the unit-test glob in
# tests/CMakeLists.txt, which includes this file after it: only its properties are set here.
# test_cuda_step (whole training steps against the CPU backend) and test_cuda_nccl (the NCCL
# collectives of a one-rank group, which the trainer skips for one rank) come from the same glob;
# train_cuda (tests/train_cuda.sh: `dfer train` on the GPU against the CPU, NCCL for one rank,
# resume) is added here. A GPU test's command must not depend on this machine's paths beyond
# ${CMAKE_BINARY_DIR}, ${CMAKE_SOURCE_DIR} and ${DFER_SHARED_DIR}, which scripts/gpu_bundle
# rewrites for the device.
add_test(NAME train_cuda
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_cuda.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${CMAKE_SOURCE_DIR}
                 ${DFER_SHARED_DIR})
set_tests_properties(train_cuda PROPERTIES TIMEOUT 600)
# The same script with the CPU standing in for the GPU, so CI keeps its harness honest.
add_test(NAME train_cuda_harness
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_cuda.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${CMAKE_SOURCE_DIR}
                 ${DFER_SHARED_DIR} --self-test)
set_tests_properties(train_cuda_harness PROPERTIES TIMEOUT 900)
set(DFER_GPU_TESTS test_cuda_ops test_cuda_step test_cuda_nccl train_cuda)

foreach(t ${DFER_GPU_TESTS})
  set_property(TEST ${t} APPEND PROPERTY LABELS gpu)
  set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
