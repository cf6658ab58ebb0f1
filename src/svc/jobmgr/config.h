/*
 * config: a job's config — validation (jobmgr_validate, jobmgr.h) and the
 * per-instance configs: instanceConfig over defaultConfig, field by field.
 */
#ifndef JM_CONFIG_H
#define JM_CONFIG_H

#include "jm.h"

/* instanceConfig over defaultConfig, field by field (malloc'd clone; NULL on ENOMEM). */
Peloton__Api__Task__TaskConfig *jm__merge(const Peloton__Api__Task__TaskConfig *def,
                                          const Peloton__Api__Task__TaskConfig *inst);
/* Builds j->merged (a config per instance) from j->cfg. 0 or -1. */
int jm__build_merged(struct jm_job *j);

#endif
