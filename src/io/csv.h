/* CSV output as RFC 4180 reads it: a field with a comma, a double quote or a line break is quoted,
 * its quotes doubled; any other field is written as it is. */
#ifndef DFER_IO_CSV_H
#define DFER_IO_CSV_H

#include <stdio.h>

void csv_print_field(FILE *out, const char *s);

#endif
