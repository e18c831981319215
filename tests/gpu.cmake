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
# dfer bench --profile-steps on the GPU: CUDA events, the ops' FLOPs against the model's
add_test(NAME bench_profile_cuda
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_profile.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${DFER_SHARED_DIR} cuda)
set_tests_properties(bench_profile_cuda PROPERTIES TIMEOUT 300)
set(DFER_GPU_TESTS test_cuda_ops test_cuda_step test_cuda_nccl train_cuda bench_profile_cuda)

foreach(t ${DFER_GPU_TESTS})
  set_property(TEST ${t} APPEND PROPERTY LABELS gpu)
  set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# The same tests against the emulated backend (kernels/emu/emu.cmake): the whole CUDA path of
# dfer, host code included, on the CPU, with device memory the host cannot touch, launch limits
# and barriers checked, and cuBLASLt and NCCL replaced by fakes that check their operands. They
# run wherever the CUDA headers are (CI included) and prove the host side and the kernels'
# logic; they prove nothing about a GPU's own behaviour, which the gpu-labelled tests above do.
# EMU_DEFER_COPIES=1: uploads from page-locked memory are held back until their stream's order or a
# wait demands them (kernels/emu/emu_runtime.cpp), so the copy stream's order is checked everywhere.
if(TARGET dferlib_emu)
  foreach(t test_cuda_ops test_cuda_step test_cuda_nccl)
    add_executable(${t}_emu ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
    target_link_libraries(${t}_emu PRIVATE dfer_testlib dferlib_emu)
    add_test(NAME ${t}_emulated COMMAND ${t}_emu)
    # test_cuda_step_emulated: 435-725 s on 2 quiet cores, 1169-1274 s with other work beside it; with DFER-CLIP's
    # ablations (2026-12-08) 1781 s on 2 cores beside a whole ctest -j2
    set_tests_properties(${t}_emulated PROPERTIES LABELS emulated TIMEOUT 2700 ENVIRONMENT
      "DFER_SHARED_DIR=${DFER_SHARED_DIR};DFER_SOURCE_DIR=${CMAKE_SOURCE_DIR};DFER_BUILD_DIR=${CMAKE_BINARY_DIR};OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1;EMU_DEFER_COPIES=1")
  endforeach()
  add_test(NAME train_cuda_emulated
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_cuda.sh ${CMAKE_BINARY_DIR}/dfer-emu ${DFER_PYTHON} ${CMAKE_SOURCE_DIR}
                   ${DFER_SHARED_DIR})
  set_tests_properties(train_cuda_emulated PROPERTIES LABELS emulated TIMEOUT 1200)
  # Data parallelism through NCCL: 1, 2 and 4 ranks (one emulated GPU each) end with the same
  # parameters, supervised (gradients all-reduced) and contrastive (features all-gathered).
  add_test(NAME train_nccl_emulated
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_dp.sh ${CMAKE_BINARY_DIR}/dfer-emu ${DFER_PYTHON} ${CMAKE_SOURCE_DIR}
                   ${DFER_SHARED_DIR} --device cuda)
  set_tests_properties(train_nccl_emulated PROPERTIES LABELS emulated TIMEOUT 1200 ENVIRONMENT EMU_DEFER_COPIES=1)
  # A peer lost inside an NCCL collective (ncclCommGetAsyncError: ncclRemoteError, the stream never done) ends the
  # run within seconds with a fatal message naming NCCL's error, rank and host, instead of hanging.
  add_test(NAME train_nccl_peer_failure_emulated
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_nccl_peer_failure.sh ${CMAKE_BINARY_DIR}/dfer-emu
                   ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
  set_tests_properties(train_nccl_peer_failure_emulated PROPERTIES LABELS emulated TIMEOUT 300
                       ENVIRONMENT EMU_DEFER_COPIES=1)
  add_test(NAME bench_profile_emulated
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_profile.sh ${CMAKE_BINARY_DIR}/dfer-emu ${DFER_PYTHON}
                   ${DFER_SHARED_DIR} cuda)
  set_tests_properties(bench_profile_emulated PROPERTIES LABELS emulated TIMEOUT 600 ENVIRONMENT EMU_DEFER_COPIES=1)
  # --device auto: CUDA for one process per GPU, the CPU (with the reason) for more ranks than GPUs
  add_test(NAME device_auto_emulated
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/device_auto.sh ${CMAKE_BINARY_DIR}/dfer-emu ${DFER_SHARED_DIR})
  set_tests_properties(device_auto_emulated PROPERTIES LABELS emulated TIMEOUT 300 ENVIRONMENT EMU_DEFER_COPIES=1)
  # The emulator's own checks (kernels/emu/test_emulator.cpp): each fault it promises to catch.
  add_test(NAME cuda_emulator_checks COMMAND cuda_emulator_checks)
  set_tests_properties(cuda_emulator_checks PROPERTIES LABELS emulated TIMEOUT 300)
endif()

# The CUDA build targets GPUs with BF16 tensor cores (sm_80 and newer): nvcc's own default
# (sm_75 for nvcc 13) once slipped through as the build's choice, silently.
if(DFER_HAVE_CUDA)
  add_test(NAME cuda_build_archs
           COMMAND bash -c "line=$(\"$0\" version | grep '^CUDA: built for compute capabilities') || { echo 'dfer version does not say which GPUs it was built for'; exit 1; }; archs=$(sed 's/.*capabilities \\([0-9,]*\\);.*/\\1/' <<<\"$line\"); echo \"built for: $archs\"; [ -n \"$archs\" ] || exit 1; for a in $(tr , ' ' <<<\"$archs\"); do [ \"$a\" -ge 80 ] || { echo \"sm_$a has no BF16 tensor cores\"; exit 1; }; done"
                   ${CMAKE_BINARY_DIR}/dfer)
endif()
