# The emulated CUDA backend: the whole of kernels/ (the op table in cuda_ops.cu, the kernels,
# the GEMM plan cache, NCCL setup) rewritten into host C++ by gen.py and linked against a fake
# CUDA runtime, cuBLASLt and NCCL (emu_runtime.cpp, fake_lt.cpp, fake_nccl.cpp) in place of
# NVIDIA's libraries. `dferlib_emu` stands where `dferlib` does; `dfer-emu` is the dfer command
# over it, and the gpu-labelled tests run against it on any machine as `<test>_emulated`
# (tests/gpu.cmake). It needs the CUDA headers (not nvcc, not a GPU). What it shows and what it
# cannot: emu_common.h, emu_runtime.cpp and docs/gpu.md.
find_program(DFER_EMU_PYTHON python3 REQUIRED)
set(DFER_EMU_GEN_DIR ${CMAKE_BINARY_DIR}/cuda-emu-backend)
file(GLOB DFER_EMU_CU CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/*.cu)
set(DFER_EMU_GENERATED)
foreach(cu ${DFER_EMU_CU})
  get_filename_component(name ${cu} NAME_WE)
  set(out ${DFER_EMU_GEN_DIR}/${name}.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${DFER_EMU_PYTHON} ${CMAKE_SOURCE_DIR}/kernels/emu/gen.py ${DFER_EMU_GEN_DIR} ${name}
    DEPENDS ${cu} ${CMAKE_SOURCE_DIR}/kernels/emu/gen.py
    COMMENT "kernels/emu: ${name}.cu -> host C++")
  list(APPEND DFER_EMU_GENERATED ${out})
endforeach()
set(DFER_EMU_DIR ${CMAKE_SOURCE_DIR}/kernels/emu)
add_library(dfercuda_emu STATIC ${DFER_EMU_GENERATED} ${DFER_EMU_DIR}/emu_sched.cpp ${DFER_EMU_DIR}/emu_runtime.cpp
            ${DFER_EMU_DIR}/fake_lt.cpp ${DFER_EMU_DIR}/fake_nccl.cpp)
target_include_directories(dfercuda_emu PRIVATE ${DFER_EMU_DIR} ${CMAKE_SOURCE_DIR}/kernels ${CMAKE_SOURCE_DIR}/src
                           ${CMAKE_SOURCE_DIR} ${DFER_CUDA_INCLUDE_DIR})
target_compile_definitions(dfercuda_emu PRIVATE EMU_FULL_RUNTIME=1 OMPI_SKIP_MPICXX=1 DFER_CUDA_ARCHS="none: emulated on the CPU")
set_target_properties(dfercuda_emu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
target_compile_options(dfercuda_emu PRIVATE -Wno-unknown-pragmas) # #pragma unroll is for nvcc
# The kernels compile as written for nvcc: unused parameters, C-style casts of function pointers,
# and type punning through reinterpret_cast (bf16 pairs in a uint4, as CUDA code does and
# nvcc compiles as meant), which g++ at -O2 and above would miscompile under strict aliasing.
set_source_files_properties(${DFER_EMU_GENERATED} PROPERTIES COMPILE_OPTIONS "-w;-fno-strict-aliasing")
target_link_libraries(dfercuda_emu PUBLIC MPI::MPI_C Threads::Threads)
add_library(dferlib_emu INTERFACE)
target_link_libraries(dferlib_emu INTERFACE "$<LINK_GROUP:RESCAN,dfercore,dfercuda_emu>")

add_executable(dfer-emu ${DFER_CLI_SOURCES})
target_link_libraries(dfer-emu PRIVATE dferlib_emu)

# The emulator's own checks: each fault it promises to catch, provoked once (test_emulator.cpp).
add_executable(cuda_emulator_checks ${DFER_EMU_DIR}/test_emulator.cpp)
target_include_directories(cuda_emulator_checks PRIVATE ${DFER_EMU_DIR} ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}
                           ${DFER_CUDA_INCLUDE_DIR})
target_compile_definitions(cuda_emulator_checks PRIVATE OMPI_SKIP_MPICXX=1)
set_target_properties(cuda_emulator_checks PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
target_compile_options(cuda_emulator_checks PRIVATE -Wno-unknown-pragmas) # cuda_common.cuh's #pragma unroll
target_link_libraries(cuda_emulator_checks PRIVATE dferlib_emu)
