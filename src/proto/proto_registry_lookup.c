/* Name lookups over the generated descriptor registry (proto_registry.h). */
#include <string.h>

#include "proto_registry.h"

#define REGISTRY_FIND(arr, n, key)                               \
	do {                                                     \
		if ((key) == NULL)                               \
			return NULL;                             \
		for (size_t i_ = 0; i_ < (n); i_++)              \
			if (strcmp((arr)[i_]->name, (key)) == 0) \
				return (arr)[i_];                \
		return NULL;                                     \
	} while (0)

const ProtobufCMessageDescriptor *proto_registry_message(const char *full_name)
{
	REGISTRY_FIND(proto_registry_messages, proto_registry_n_messages, full_name);
}

const ProtobufCEnumDescriptor *proto_registry_enum(const char *full_name)
{
	REGISTRY_FIND(proto_registry_enums, proto_registry_n_enums, full_name);
}

const ProtobufCServiceDescriptor *proto_registry_service(const char *full_name)
{
	REGISTRY_FIND(proto_registry_services, proto_registry_n_services, full_name);
}
