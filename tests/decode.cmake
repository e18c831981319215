# Decoding and resampling against their references. One fixture writes the
# reference files into the build tree: Pillow 9.4 resizes and CLIP
# preprocessing (tests/reference/pil_resample.py) and media with their decoded frames (the ffmpeg
# CLI's for videos, Pillow's for JPEGs: tests/decode_media.sh); test_resample and test_decode
# read them from $DFER_DECODE_REF.
set(DFER_DECODE_REF ${CMAKE_BINARY_DIR}/tests/decode_ref)
add_test(NAME decode_reference_files
         COMMAND sh -c "rm -rf '${DFER_DECODE_REF}' && mkdir -p '${DFER_DECODE_REF}/pil' '${DFER_DECODE_REF}/media' && ${DFER_PYTHON} '${CMAKE_CURRENT_SOURCE_DIR}/reference/pil_resample.py' '${DFER_DECODE_REF}/pil' && '${CMAKE_CURRENT_SOURCE_DIR}/decode_media.sh' '${DFER_DECODE_REF}/media' '${DFER_PYTHON}'")
set_tests_properties(decode_reference_files PROPERTIES FIXTURES_SETUP decode_ref TIMEOUT 300)
foreach(t test_resample test_decode)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED decode_ref)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "DFER_DECODE_REF=${DFER_DECODE_REF}")
    # glibc's heap checks: a conversion writing past an image aborts the test instead of passing by luck
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "MALLOC_CHECK_=3;MALLOC_PERTURB_=165")
  endif()
endforeach()
