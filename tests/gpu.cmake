# GPU tests: labelled `gpu`, so `ctest -L gpu` runs them all (scripts/gpu_check does, on a
# lent GPU machine; docs/gpu.md). Each exits 77 with "SKIP: no GPU (...)" where there is no
# GPU or the build has no CUDA, which ctest counts as skipped, not failed.
#
# test_cuda_ops (tests/unit/test_cuda_ops.c) is added by the unit-test glob in
# tests/CMakeLists.txt, which includes this file after it: only its properties are set here.
# A future GPU test (e.g. the whole-step parity of FineCLIPER and DFER-CLIP, CUDA against the
# CPU backend in mixed precision) adds itself with add_test and appends its name to
# DFER_GPU_TESTS; its command must not depend on this machine's paths beyond
# ${CMAKE_BINARY_DIR}, ${CMAKE_SOURCE_DIR} and ${DFER_SHARED_DIR}, which scripts/gpu_bundle
# rewrites for the device.
set(DFER_GPU_TESTS test_cuda_ops test_cuda_step)

foreach(t ${DFER_GPU_TESTS})
  set_property(TEST ${t} APPEND PROPERTY LABELS gpu)
  set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
