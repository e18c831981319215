/* The commit the build was configured from (CMakeLists.txt generates its value). */
#ifndef DFER_CORE_VERSION_H
#define DFER_CORE_VERSION_H

extern const char dfer_git_commit[];

#endif
