/*
 * Compiled as a role is (tests/CMakeLists.txt, layout_rule_private): a
 * role including another role's private header (here the resource
 * manager's pool tree) must fail to build.
 */
#include "respool.h"

int layout_probe_private(void);
int layout_probe_private(void)
{
	return 0;
}
