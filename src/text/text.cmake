# The CLIP tokenizer's HTML5 entity tables, generated at build time from
# Python's standard library (not kept in git).
set(DFER_GEN_DIR ${CMAKE_BINARY_DIR}/generated)
file(MAKE_DIRECTORY ${DFER_GEN_DIR})
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_custom_command(
  OUTPUT ${DFER_GEN_DIR}/html_entities.c
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/src/text/gen_html_entities.py ${DFER_GEN_DIR}/html_entities.c
  DEPENDS ${CMAKE_SOURCE_DIR}/src/text/gen_html_entities.py
  COMMENT "Generating the HTML5 entity table")
target_sources(dfercore PRIVATE ${DFER_GEN_DIR}/html_entities.c)
find_library(UNISTRING_LIBRARY unistring REQUIRED)
target_link_libraries(dfercore PUBLIC ${UNISTRING_LIBRARY})
