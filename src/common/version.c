/* See version.h; PEL_VERSION_STRING comes from CMakeLists.txt. */
#include "version.h"

const char *pel_version(void)
{
	return PEL_VERSION_STRING;
}

const char *pel_commit(void)
{
	return PEL_GIT_COMMIT;
}
