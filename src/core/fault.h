/*
 * Fault injection for crash-safety tests: NIGHTSHIFT_FAULT names a point
 * ("step.push.done") where the process kills itself with SIGKILL, as a
 * power cut or an OOM kill would; "POINT:N" fires at the Nth time the
 * point is reached. Unset, a point costs one pointer test. NIGHTSHIFT_STALL
 * ("agent.ask.poll:1500") makes a point sleep instead, each time.
 *
 * Thread rules: any thread.
 */
#ifndef NSH_CORE_FAULT_H
#define NSH_CORE_FAULT_H

#include <stdbool.h>

/** Kill the process here when NIGHTSHIFT_FAULT names @point (this time). */
void nsh_fault(const char *point);

/** Whether NIGHTSHIFT_FAULT names @point (for faults in the middle of work). */
bool nsh_fault_armed(const char *point);

/** Kill the process @ms milliseconds from now, from a thread of its own. */
void nsh_fault_kill_after(int ms);

/**
 * Sleep here when NIGHTSHIFT_STALL is "@point:MS": widens a window between
 * two steps so that a test can land something in it.
 */
void nsh_fault_stall(const char *point);

#endif
