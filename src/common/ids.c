/* Random identifiers; see ids.h. */
#include "ids.h"

#include <uuid/uuid.h>

void ids_uuid(char out[IDS_UUID_LEN])
{
	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}
