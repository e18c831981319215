# dfer report: a real small matrix, a failed and a missing job, then the HTML page checked
# (sections, tables, well-formed SVG, escaping, nothing external) and rendered offline in
# headless Chromium (screenshot and DOM checked). Skips (77) only without chromium.
add_test(NAME report_html_chromium
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report.sh ${CMAKE_BINARY_DIR}/dfer ${CMAKE_SOURCE_DIR} ${DFER_SHARED_DIR} ${DFER_PYTHON})
set_tests_properties(report_html_chromium PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
