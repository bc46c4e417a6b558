/*
 * Fault injection; see fault.h.
 */
#include "core/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/time.h"

#include "core/banned.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char point_name[128]; /* "" when unset */
static long point_nth = 1;   /* which hit fires */
static atomic_long hits;

static void load(void)
{
	const char *v = getenv("NIGHTSHIFT_FAULT");
	const char *colon;
	size_t n;

	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	n = colon ? (size_t)(colon - v) : strlen(v);
	if (n >= sizeof(point_name))
		return;
	memcpy(point_name, v, n);
	point_name[n] = '\0';
	if (colon)
		point_nth = strtol(colon + 1, NULL, 10);
	if (point_nth < 1)
		point_nth = 1;
}

bool nsh_fault_armed(const char *point)
{
	pthread_once(&once, load);
	return point_name[0] && !strcmp(point, point_name);
}

void nsh_fault(const char *point)
{
	if (nsh_fault_armed(point) && atomic_fetch_add(&hits, 1) + 1 == point_nth)
		kill(getpid(), SIGKILL);
}

static void *killer(void *arg)
{
	nsh_time_sleep_ms((int64_t)(intptr_t)arg);
	kill(getpid(), SIGKILL);
	return NULL;
}

void nsh_fault_kill_after(int ms)
{
	pthread_t t;

	if (pthread_create(&t, NULL, killer, (void *)(intptr_t)ms) == 0)
		pthread_detach(t);
}

static pthread_once_t stall_once = PTHREAD_ONCE_INIT;
static char stall_name[128];
static long stall_ms;

static void stall_load(void)
{
	const char *v = getenv("NIGHTSHIFT_STALL");
	const char *colon = v ? strchr(v, ':') : NULL;

	if (!colon || (size_t)(colon - v) >= sizeof(stall_name))
		return;
	memcpy(stall_name, v, (size_t)(colon - v));
	stall_name[colon - v] = '\0';
	stall_ms = strtol(colon + 1, NULL, 10);
}

void nsh_fault_stall(const char *point)
{
	pthread_once(&stall_once, stall_load);
	if (stall_ms > 0 && !strcmp(point, stall_name))
		nsh_time_sleep_ms(stall_ms);
}
