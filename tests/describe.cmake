# FineCLIPER's high-level texts from the command line (tests/describe_cli.sh):
# `dfer refine` removes every planted emotion word of the synthetic
# descriptions and captions and leaves the other texts byte for byte;
# `dfer describe` writes label-free descriptions from the landmark tracks.
add_test(NAME cli_refine_describe COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/describe_cli.sh ${CMAKE_BINARY_DIR}/dfer ${DFER_PYTHON})
set_tests_properties(cli_refine_describe PROPERTIES TIMEOUT 300)
