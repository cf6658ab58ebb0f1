/* version: the build's version string, set by CMake from project(). */
#ifndef VERSION_H
#define VERSION_H

const char *pel_version(void);

#endif
