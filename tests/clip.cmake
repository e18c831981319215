# CLIP inference: parity of `dfer embed` with the PyTorch reference.
add_test(NAME clip_embed_parity_torch
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/clip_parity.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON}
                 ${DFER_SHARED_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(clip_embed_parity_torch PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=2")
