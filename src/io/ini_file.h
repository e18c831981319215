/* INI files (run configurations, matrix files) through inih, Debian's libinih, with what its
 * ini_parse lacks for files a tool writes and users edit:
 *  - lines of any length: the library reads a line into a fixed buffer (200 bytes in Debian's
 *    build) and parses the rest of a longer one as a line of its own, so a long data.root or
 *    prompt made a run's own config.ini unreadable (a syntax error one line below);
 *  - errors that name the line they are on: a handler's refusal carries the line of the key it
 *    refused, and a syntax error quotes its line and says what is wrong with it. */
#ifndef DFER_IO_INI_FILE_H
#define DFER_IO_INI_FILE_H

#include "core/check.h"

/* Called for each key (section "" before the first [section]) with the line it is on (for a handler that keeps where
 * a value came from); returns 0, or -1 after err_set with a message without the file and line (ini_file_load adds
 * them). After the first refusal no more keys are handed over. */
typedef int (*IniKeyFn)(void *user, int line, const char *section, const char *name, const char *value, Err *err);

/* Parses PATH with inih's rules (';' and '#' comment lines, inline comments after " ;", values
 * trimmed, continuation lines) and dfer's quoting (below). -1 with "PATH:LINE: message" for the first error, or
 * "PATH: cannot open the WHAT" when the file cannot be read. list_keys: NULL, or a NULL-terminated
 * list of "section.key" whose continuation lines (an indented line after the key) reach the handler as
 * further values of that key, for keys that hold lists; for any other key such a line is an error (inih
 * hands it over as the key's whole new value, which replaced the first line's without a word). sections: NULL, or a
 * NULL-terminated list of the [sections] the file may have ("name*": any that begins with "name"): a header of
 * another is an error on its line, keys under it or not. */
int ini_file_load(const char *path, const char *what, const char *const *list_keys, const char *const *sections,
                  IniKeyFn fn, void *user, Err *err);

/* Quoting: a value (after inih's trimming) that begins with '"' must end with the one other '"' it holds, and reaches
 * the handler without the two ("  a # b " keeps its blanks); a value that does not begin with '"' is taken as it is,
 * a '"' inside it included. A ';' after a blank starts a comment even between quotes (inih cuts it first). The
 * values of list_keys reach the handler as written: it splits them with ini_list_next and unquotes each element. */

/* Removes the quotes of a quoted value, in place; NULL, or why it is not one (it begins with a '"' that does not
 * end it, or holds a third), for a message. A value that does not begin with '"' is left alone. */
const char *ini_unquote(char *value);

/* The next element of a list value: *cursor split, in place, at the first comma outside double quotes, the element
 * trimmed of blanks (its quotes kept, for ini_unquote); NULL after the last (set *cursor to the value first). */
char *ini_list_next(char **cursor);

/* Whether a string value comes back unchanged from "key = VALUE" in an INI file, VALUE written by ini_value_format
 * (inih cuts it at a ';' after a blank; a leading '"' is read as quoting); when not, the reason, for a message. */
const char *ini_value_unsafe(const char *value);

/* value as an INI file writes it: in double quotes when it begins or ends with a blank (inih trims those). */
void ini_value_format(const char *value, char *out, size_t size);

#endif
