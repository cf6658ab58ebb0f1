/* The job manager's threads: the launcher (launch.c) and the sweeper (sweep.c). */
#ifndef JM_RUN_H
#define JM_RUN_H

void *jm__launcher_main(void *jobmgr);
void *jm__sweeper_main(void *jobmgr);

#endif
