# The data pipeline from the command line: synth determinism, data check on every layout,
# decoding byte-identical to the ffmpeg CLI.
add_test(NAME data_synth_check_decode
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/data_cli.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_BINARY_DIR}/tests)
set_tests_properties(data_synth_check_decode PROPERTIES TIMEOUT 600)
