# Training: resume gives bitwise-identical parameters; bad inputs get clear errors.
add_test(NAME train_resume_bitwise
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/train_resume.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR})
set_tests_properties(train_resume_bitwise PROPERTIES TIMEOUT 900)
