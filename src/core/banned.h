/*
 * Functions that are easy to misuse and have safer replacements in core.
 * Include this header last in every .c file (after system headers): a call
 * to a banned function then fails to compile, with its name in the error.
 */
#ifndef NSH_CORE_BANNED_H
#define NSH_CORE_BANNED_H

#define NSH_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) NSH_BANNED(strcpy)
#undef strcat
#define strcat(x, y) NSH_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) NSH_BANNED(strncpy)
#undef sprintf
#define sprintf(...) NSH_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) NSH_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) NSH_BANNED(strtok)
#undef atoi
#define atoi(x) NSH_BANNED(atoi)
#undef gets
#define gets(x) NSH_BANNED(gets)
#undef localtime
#define localtime(x) NSH_BANNED(localtime)
#undef gmtime
#define gmtime(x) NSH_BANNED(gmtime)
#undef mktemp
#define mktemp(x) NSH_BANNED(mktemp)

#endif
