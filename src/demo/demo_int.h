/*
 * Internals of the demo module: the data tables. services.c holds the
 * catalogue, sources.c the source files, demo.c composes the rest
 * (package.json, package-lock.json, README.md, .nightshift/repo.yml) and
 * makes the repositories.
 */
#ifndef NSH_DEMO_DEMO_INT_H
#define NSH_DEMO_DEMO_INT_H

#include <stddef.h>

#include "demo/demo.h"

/* The service name of the files of the shared package. */
#define NSH_DEMO_UTILS "@demo-org/utils"

/* One source file of one service (or of the shared package). */
struct nsh_demo_file {
	const char *service; /* service name, or NSH_DEMO_UTILS */
	unsigned commit;     /* 1-based commit of the service that adds it */
	const char *path;    /* relative to the repository (to the package for utils) */
	const char *content; /* the whole file, UTF-8 */
};

extern const struct nsh_demo_file nsh_demo_files[];
extern const size_t nsh_demo_files_nr;

extern const struct nsh_demo_service nsh_demo_services[NSH_DEMO_SERVICES];

#endif
