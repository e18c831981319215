# dfer tokenize on the command line (tests/text_cli.sh: exact ids, exit codes, messages).
set(DFER_VOCAB_PATH ${DFER_SHARED_DIR}/clip/bpe_simple_vocab_16e6.txt.gz)
add_test(NAME cli_tokenize COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/text_cli.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_VOCAB_PATH})
add_test(NAME cli_tokenize_dash COMMAND ${CMAKE_BINARY_DIR}/dfer tokenize --vocab ${DFER_VOCAB_PATH} -- "-a photo of a cat")
set_tests_properties(cli_tokenize_dash PROPERTIES PASS_REGULAR_EXPRESSION "^49406 268 320 1125 539 320 2368 49407\n$")
add_test(NAME cli_tokenize_no_vocab COMMAND ${CMAKE_BINARY_DIR}/dfer tokenize "x")
set_tests_properties(cli_tokenize_no_vocab PROPERTIES WILL_FAIL TRUE ENVIRONMENT "DFER_VOCAB=")
