/*
 * Request counters and latency histograms per route, kept with atomic
 * additions so that request threads never wait for each other, and their
 * Prometheus text form. The gauges that come from the store (tasks by
 * state, queue length, ...) are added by the /metrics handler.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

/* Upper bounds of the latency buckets, in seconds (the last one is +Inf). */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				0.05,	0.1,   0.25,   0.5,   1,    2.5};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct route_stats {
	uint64_t status[6];	      /* 1xx..5xx by hundreds, [0] unused */
	uint64_t bucket[NBOUNDS + 1]; /* observations per bucket (not cumulative) */
	uint64_t sum_ns;	      /* total time */
	uint64_t count;		      /* observations */
};

struct nsh_srv_metrics {
	size_t nroutes;	       /* routes; index nroutes counts unmatched paths */
	struct route_stats *r; /* nroutes + 1 */
	int64_t streams;       /* open event streams */
};

struct nsh_srv_metrics *nsh_srv_metrics_new(size_t nroutes)
{
	struct nsh_srv_metrics *m = nsh_xcalloc(1, sizeof(*m));

	m->nroutes = nroutes;
	m->r = nsh_xcalloc(nroutes + 1, sizeof(m->r[0]));
	return m;
}

void nsh_srv_metrics_free(struct nsh_srv_metrics *m)
{
	if (!m)
		return;
	free(m->r);
	free(m);
}

void nsh_srv_metrics_observe(struct nsh_srv_metrics *m, size_t route, int status, int64_t ns)
{
	struct route_stats *s = &m->r[route < m->nroutes ? route : m->nroutes];
	double sec = (double)ns / 1e9;
	size_t b = 0;
	int cls = status / 100;

	while (b < NBOUNDS && sec > bounds[b])
		b++;
	__atomic_add_fetch(&s->bucket[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->sum_ns, (uint64_t)(ns > 0 ? ns : 0), __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
	if (cls >= 1 && cls <= 5)
		__atomic_add_fetch(&s->status[cls], 1, __ATOMIC_RELAXED);
}

void nsh_srv_metrics_stream(struct nsh_srv_metrics *m, int delta)
{
	__atomic_add_fetch(&m->streams, delta, __ATOMIC_RELAXED);
}

int nsh_srv_metrics_render(struct nsh_srv_metrics *m, struct nsh_buf *out)
{
	const struct nsh_srv_route *routes;
	size_t nr;
	int rc = 0;

	routes = nsh_srv_routes(&nr);
	rc |= nsh_buf_adds(out, "# HELP nightshift_http_requests_total HTTP requests served, by "
				"route and status class.\n"
				"# TYPE nightshift_http_requests_total counter\n");
	for (size_t i = 0; i <= m->nroutes; i++) {
		const char *route = i < nr ? routes[i].pattern : "unmatched";
		const char *method = i < nr ? routes[i].method : "";

		for (int c = 1; c <= 5; c++) {
			uint64_t n = __atomic_load_n(&m->r[i].status[c], __ATOMIC_RELAXED);

			if (n)
				rc |= nsh_buf_addf(out,
						   "nightshift_http_requests_total{method=\"%s\","
						   "route=\"%s\",code=\"%dxx\"} %llu\n",
						   method, route, c, (unsigned long long)n);
		}
	}
	rc |= nsh_buf_adds(out, "# HELP nightshift_http_request_duration_seconds Time to serve a "
				"request, by route.\n"
				"# TYPE nightshift_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= m->nroutes; i++) {
		const char *route = i < nr ? routes[i].pattern : "unmatched";
		const char *method = i < nr ? routes[i].method : "";
		uint64_t count = __atomic_load_n(&m->r[i].count, __ATOMIC_RELAXED);
		uint64_t cum = 0;

		if (!count)
			continue;
		for (size_t b = 0; b <= NBOUNDS; b++) {
			cum += __atomic_load_n(&m->r[i].bucket[b], __ATOMIC_RELAXED);
			if (b < NBOUNDS)
				rc |= nsh_buf_addf(
					out,
					"nightshift_http_request_duration_seconds_bucket{"
					"method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
					method, route, bounds[b], (unsigned long long)cum);
			else
				rc |= nsh_buf_addf(
					out,
					"nightshift_http_request_duration_seconds_bucket{"
					"method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
					method, route, (unsigned long long)cum);
		}
		rc |= nsh_buf_addf(
			out,
			"nightshift_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} "
			"%.6f\n"
			"nightshift_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} "
			"%llu\n",
			method, route,
			(double)__atomic_load_n(&m->r[i].sum_ns, __ATOMIC_RELAXED) / 1e9, method,
			route, (unsigned long long)count);
	}
	rc |= nsh_buf_addf(out,
			   "# HELP nightshift_event_streams Open Server-Sent Events streams.\n"
			   "# TYPE nightshift_event_streams gauge\n"
			   "nightshift_event_streams %lld\n",
			   (long long)__atomic_load_n(&m->streams, __ATOMIC_RELAXED));
	return rc ? NSH_ETOOBIG : 0;
}
