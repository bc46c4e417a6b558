/*
 * The role prompts, embedded at build time: the assembler's .incbin copies
 * src/agent/prompts/ROLE.md into the binary, followed by a NUL. The
 * Makefile makes this object depend on the .md files, so editing a prompt
 * rebuilds it. Paths are relative to the top of the tree, where make runs.
 */
#include "agent/agent.h"

#include "core/banned.h"

/* Define the global, hidden, NUL-terminated array SYM holding FILE. */
#define EMBED(sym, file)                        \
 __asm__(".section .rodata\n"                   \
	 ".global " #sym "\n"                   \
	 ".hidden " #sym "\n"                   \
	 ".type " #sym ", @object\n" #sym ":\n" \
	 ".incbin \"" file "\"\n"               \
	 ".byte 0\n"                            \
	 ".size " #sym ", . - " #sym "\n"       \
	 ".previous\n")

EMBED(nsh_prompt_research, "src/agent/prompts/research.md");
EMBED(nsh_prompt_code, "src/agent/prompts/code.md");
EMBED(nsh_prompt_verify, "src/agent/prompts/verify.md");

extern const char nsh_prompt_research[];
extern const char nsh_prompt_code[];
extern const char nsh_prompt_verify[];

const char *nsh_agent_prompt(enum nsh_agent_role r)
{
	switch (r) {
	case NSH_AGENT_RESEARCH:
		return nsh_prompt_research;
	case NSH_AGENT_CODE:
		return nsh_prompt_code;
	case NSH_AGENT_VERIFY:
		return nsh_prompt_verify;
	}
	return "";
}
