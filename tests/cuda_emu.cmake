# The CUDA kernels' own source, run on the CPU by kernels/emu (each block's threads as fibers, warp
# shuffles and barriers emulated, cuBLASLt replaced by a GEMM that follows its descriptors),
# against the CPU reference kernels: indexing, tiling, masking, dtype paths and the GEMM layout
# mapping, on machines without a GPU. It proves nothing about GPU-only behaviour (fast-math
# intrinsics, the memory model, cuBLASLt, speed): the gpu-labelled tests do that where a GPU is.
if(DFER_HAVE_CUDA)
  add_test(NAME cuda_kernels_emulated COMMAND sh ${CMAKE_SOURCE_DIR}/kernels/emu/run.sh all)
  set_tests_properties(cuda_kernels_emulated PROPERTIES TIMEOUT 900
    ENVIRONMENT "EMU_BUILD=${CMAKE_BINARY_DIR}/cuda-emu")
endif()
