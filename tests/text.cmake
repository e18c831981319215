# dfer tokenize on the command line.
set(DFER_VOCAB_PATH ${DFER_SHARED_DIR}/clip/bpe_simple_vocab_16e6.txt.gz)
add_test(NAME cli_tokenize COMMAND ${CMAKE_BINARY_DIR}/dfer tokenize --vocab ${DFER_VOCAB_PATH} -- "-a photo of a cat")
set_tests_properties(cli_tokenize PROPERTIES PASS_REGULAR_EXPRESSION "^49406 268 320 1125 539 320 2368 49407\n$")
add_test(NAME cli_tokenize_no_vocab COMMAND ${CMAKE_BINARY_DIR}/dfer tokenize "x")
set_tests_properties(cli_tokenize_no_vocab PROPERTIES WILL_FAIL TRUE ENVIRONMENT "DFER_VOCAB=")
add_test(NAME cli_tokenize_context COMMAND ${CMAKE_BINARY_DIR}/dfer tokenize --vocab ${DFER_VOCAB_PATH} --context 4 "a photo of a cat")
set_tests_properties(cli_tokenize_context PROPERTIES WILL_FAIL TRUE)
