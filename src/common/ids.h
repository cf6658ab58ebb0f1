/*
 * ids: random identifiers — RFC 4122 version 4 UUIDs from libuuid (its
 * generator reads the kernel's random source), lower-case text. Job ids and
 * resource pool ids are these.
 */
#ifndef IDS_H
#define IDS_H

#define IDS_UUID_LEN 37 /* 36 characters and the NUL */

/* A new random UUID as text into out. */
void ids_uuid(char out[IDS_UUID_LEN]);

#endif
