/* Escaping of text for HTML and XML (the report's page, its inline SVG, and
 * `dfer table`'s HTML format, src/train/table.h), and for Markdown tables: one function for each, so
 * that every string from result.json, jobs.json or config.ini reaches the page
 * the same way. */
#ifndef DFER_CORE_XML_H
#define DFER_CORE_XML_H

#include <stdio.h>

/* Writes s as XML/HTML text or attribute value: & < > " ' become entities,
 * control characters other than tab and newline are dropped and invalid UTF-8
 * bytes become U+FFFD, so the output is valid UTF-8 and well-formed XML
 * whatever s holds. NULL writes nothing. */
void xml_escape(FILE *out, const char *s);
/* Writes s as one line of Markdown table text: '|' becomes "\\|" (it would end the cell), control characters
 * (newlines and tabs too) become spaces, invalid UTF-8 bytes U+FFFD. NULL writes nothing. */
void markdown_escape(FILE *out, const char *s);

#endif
