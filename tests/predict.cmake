# dfer predict on synthetic videos with ground truth, without faces, rotated (display matrix), very short
# and with a variable frame rate; CSV, the annotated copy and bad input (tests/predict.sh).
add_test(NAME predict_video
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/predict.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(predict_video PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1")
# predict against eval on the same frames; inputs predict.sh does not cover: an audio file with cover art refused;
# --annotate shows no classes after a last window that ends before the video; --annotate of a 2500 fps video; a 4K
# scan's memory; predictions given out before an --annotate copy that fails; start_offset_s (the first frame on a
# player's clock) of an MP4 whose video starts late and of MPEG-TS files against ffprobe (tests/predict_edges.sh).
add_test(NAME predict_edges
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/predict_edges.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR}
                 ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(predict_edges PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1")
