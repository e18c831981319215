# The data pipeline from the command line: synth determinism, data check on every layout,
# decoding byte-identical to the ffmpeg CLI.
add_test(NAME data_synth_check_decode
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/data_cli.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_BINARY_DIR}/tests ${DFER_PYTHON})
set_tests_properties(data_synth_check_decode PROPERTIES TIMEOUT 600)

# Augmentation byte-identical to PIL (DFER-CLIP's video_transform.py) for every preset
# and the test-time resize: square, small and tall frames (the tall ones take the fallback crop).
add_test(NAME augment_pillow_exact
         COMMAND sh -c "d=$(mktemp -d) && for s in '224 224 80 224' '97 61 80 48' '40 300 80 32'; do $<TARGET_FILE:augment_dump> $d $s && ${DFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/pil_augment.py $d $s || { rm -rf $d; exit 1; }; done; rm -rf $d")
