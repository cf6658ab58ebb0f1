/* The agents' address book: addresses from offers' urls, updates, misses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agents.h"

static Mesos__V1__Offer offer(const char *agent, const char *hostname, const char *ip, int port,
                              Mesos__V1__AgentID *aid, Mesos__V1__URL *url,
                              Mesos__V1__Address *addr)
{
	Mesos__V1__Offer o = MESOS__V1__OFFER__INIT;
	mesos__v1__agent_id__init(aid);
	mesos__v1__url__init(url);
	mesos__v1__address__init(addr);
	aid->value = (char *)agent;
	addr->hostname = (char *)hostname;
	addr->ip = (char *)ip;
	addr->port = port;
	url->scheme = "http";
	url->address = addr;
	o.agent_id = aid;
	o.url = port ? url : NULL;
	return o;
}

static void test_book(void **state)
{
	(void)state;
	struct agent_book *b = agent_book_new();
	Mesos__V1__AgentID aid[4];
	Mesos__V1__URL url[4];
	Mesos__V1__Address addr[4];
	Mesos__V1__Offer o[4] = {
	    offer("a1", "host-1", "10.0.0.1", 5051, &aid[0], &url[0], &addr[0]),
	    offer("a2", "host-2", NULL, 5052, &aid[1], &url[1], &addr[1]),
	    offer("a3", "host-3", "10.0.0.3", 0, &aid[2], &url[2], &addr[2]),     /* no url */
	    offer("a4", "host-4", "10.0.0.4", 70000, &aid[3], &url[3], &addr[3]), /* bad port */
	};
	Mesos__V1__Offer *op[4] = {&o[0], &o[1], &o[2], &o[3]};
	agent_book_note(b, op, 4);
	assert_int_equal(agent_book_size(b), 2);
	char host[64];
	unsigned port = 0;
	assert_true(agent_book_find(b, "a1", host, sizeof(host), &port));
	assert_string_equal(host, "10.0.0.1"); /* the IP when there is one */
	assert_int_equal(port, 5051);
	assert_true(agent_book_find(b, "a2", host, sizeof(host), &port));
	assert_string_equal(host, "host-2");
	assert_false(agent_book_find(b, "a3", host, sizeof(host), &port));
	assert_false(agent_book_find(b, "nope", host, sizeof(host), &port));
	/* an agent that moved: the newest offer wins */
	addr[0].ip = "10.0.9.9";
	agent_book_note(b, op, 1);
	assert_true(agent_book_find(b, "a1", host, sizeof(host), &port));
	assert_string_equal(host, "10.0.9.9");
	assert_int_equal(agent_book_size(b), 2);
	agent_book_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_book)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
