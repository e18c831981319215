# Face tracks with dlib: `dfer prep` under mpirun (2 ranks) on synthetic faces with ground truth;
# resume, frames without faces, unreadable clips and bad input.
find_program(DFER_FACE_MPIRUN mpirun REQUIRED)
add_test(NAME face_prep_synth
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/face_prep.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_FACE_MPIRUN} ${DFER_PYTHON})
set_tests_properties(face_prep_synth PROPERTIES TIMEOUT 600
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1")
# Cached tracks against the clips they were made from: a clip replaced under its id, a re-encoded video, a moved
# or copied dataset, tracks of an older dfer.
add_test(NAME face_prep_source
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/face_prep_source.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON})
set_tests_properties(face_prep_source PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
# A rerun over cached tracks lists each frame-folder clip once (its frame count and identity share the listing).
add_test(NAME face_prep_listings
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/face_prep_listings.sh ${CMAKE_BINARY_DIR}/dfer
                 $<TARGET_FILE:count_listings> ${DFER_PYTHON})
set_tests_properties(face_prep_listings PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
# The same on a real face: a photograph fetched by scripts/setup, moved by known affine maps.
# where scripts/setup put it: $DFER_TEST_MEDIA when set (setup reads the same variable), else its default
if(DEFINED ENV{DFER_TEST_MEDIA} AND NOT "$ENV{DFER_TEST_MEDIA}" STREQUAL "")
  set(DFER_TEST_MEDIA_DEFAULT $ENV{DFER_TEST_MEDIA})
else()
  set(DFER_TEST_MEDIA_DEFAULT /var/cache/dfer/test-media)
endif()
set(DFER_TEST_MEDIA ${DFER_TEST_MEDIA_DEFAULT} CACHE PATH "test media fetched by scripts/setup (a real face photograph)")
add_test(NAME face_real
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/face_real.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON} ${DFER_TEST_MEDIA}
                 ${DFER_SHARED_DIR})
set_tests_properties(face_real PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
# dfer prep interrupted: a clip whose read never returns, a frozen rank, a stopped and continued process,
# a stop signal to one rank.
add_test(NAME face_prep_interrupt
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/face_prep_interrupt.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_FACE_MPIRUN} ${DFER_PYTHON})
set_tests_properties(face_prep_interrupt PROPERTIES TIMEOUT 600
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1")
