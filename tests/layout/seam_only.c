/*
 * Compiled as a role is (tests/CMakeLists.txt, layout_rule_seam): a role
 * includes the other roles' seams. Must build.
 */
#include "hostmgr_seam.h"
#include "jobmgr_seam.h"
#include "placement_seam.h"
#include "resmgr_seam.h"

int layout_probe_seam(void);
int layout_probe_seam(void)
{
	return RM_N_FAILS;
}
