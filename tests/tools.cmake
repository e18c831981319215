# Small test programs driven by scripts (not tests by themselves).
file(GLOB DFER_TEST_TOOLS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tools/*.c)
foreach(src ${DFER_TEST_TOOLS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE dferlib)
endforeach()
add_test(NAME resample_pillow_exact
         COMMAND sh -c "d=$(mktemp -d) && ${DFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/pil_resample.py $d && $<TARGET_FILE:resample_check> $d; rc=$?; rm -rf $d; exit $rc")

# Numeric options of every command: parsed whole and range-checked (tests/cli_options.sh).
add_test(NAME cli_options COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_options.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_SHARED_DIR})
set_tests_properties(cli_options PROPERTIES TIMEOUT 120)
# README.md and docs/*.md name only commands, options, configuration keys and paths that exist (tests/docs_names.py).
add_test(NAME docs_names COMMAND ${DFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/docs_names.py ${CMAKE_BINARY_DIR}/dfer
                                 ${CMAKE_SOURCE_DIR})
set_tests_properties(docs_names PROPERTIES TIMEOUT 60)
# LD_PRELOAD shims that put a process into a state a test needs at an exact point (tests/preload/*.c).
file(GLOB DFER_TEST_PRELOADS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/preload/*.c)
foreach(src ${DFER_TEST_PRELOADS})
  get_filename_component(name ${src} NAME_WE)
  add_library(${name} MODULE ${src})
  target_link_libraries(${name} PRIVATE ${CMAKE_DL_LIBS})
  set_target_properties(${name} PROPERTIES PREFIX "")
endforeach()
