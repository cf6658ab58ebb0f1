/* version: the build's version string, set by CMake from project(). */
#ifndef VERSION_H
#define VERSION_H

const char *pel_version(void);
/* The git commit built, as of the last CMake configure ("unknown" outside a
 * checkout). */
const char *pel_commit(void);

#endif
