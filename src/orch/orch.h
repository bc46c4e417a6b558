/*
 * The orchestrator: the work of a task, from the user's text to one pull
 * request per repository (DESIGN.md section 1), as a pipeline for the
 * scheduler (sched/sched.h).
 *
 * plan     finds the brain (a recipe named or recognised from the text; an
 *          LLM otherwise, which must be configured), analyses the org's
 *          repositories (analyze/analyze.h), writes the task spec and one
 *          job per affected repository in risk order;
 * per job  clone -> detect -> install -> baseline -> research -> change ->
 *          reinstall -> verify -> commit -> push -> pr, in its own sandbox
 *          at the task's network level; a failed verification retries with
 *          the recipe's next alternative, and when every attempt fails the
 *          pull request is a draft labelled needs-human-review;
 * finish   links the pull requests of the change set to each other.
 *
 * Thread rules: one orchestrator serves every thread of one scheduler; its
 * state (recipes, the egress proxy) is read-only or locked.
 */
#ifndef NSH_ORCH_ORCH_H
#define NSH_ORCH_ORCH_H

struct nsh_err;
struct nsh_config;
struct nsh_orch;
struct nsh_pipeline;

/**
 * Make an orchestrator for the home @home (borrowed, must outlive it) with
 * the configuration @cfg (borrowed; may be NULL): the recipes are loaded
 * now. Free with nsh_orch_free() after the scheduler has stopped.
 */
int nsh_orch_new(const char *home, const struct nsh_config *cfg, struct nsh_orch **ret,
		 struct nsh_err *err);

/** The pipeline for nsh_sched_config.pipeline; valid as long as @o. */
const struct nsh_pipeline *nsh_orch_pipeline(struct nsh_orch *o);

void nsh_orch_free(struct nsh_orch *o);

#endif
