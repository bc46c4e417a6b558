/*
 * Languages of a repository, by file name: a table of extensions and a few
 * well-known file names. Prose, data and configuration (Markdown, JSON,
 * YAML, ...) are not counted as languages, as code hosts usually do.
 */
#include "forge/forge_int.h"

#include <string.h>
#include <strings.h>

#include "core/banned.h"

struct lang_ext {
	const char *ext;  /* without the dot, lower case */
	const char *name; /* language */
};

static const struct lang_ext exts[] = {
	{"c", "C"},
	{"h", "C"},
	{"cc", "C++"},
	{"cpp", "C++"},
	{"cxx", "C++"},
	{"hh", "C++"},
	{"hpp", "C++"},
	{"hxx", "C++"},
	{"cs", "C#"},
	{"go", "Go"},
	{"rs", "Rust"},
	{"py", "Python"},
	{"pyi", "Python"},
	{"rb", "Ruby"},
	{"js", "JavaScript"},
	{"mjs", "JavaScript"},
	{"cjs", "JavaScript"},
	{"jsx", "JavaScript"},
	{"ts", "TypeScript"},
	{"tsx", "TypeScript"},
	{"mts", "TypeScript"},
	{"cts", "TypeScript"},
	{"java", "Java"},
	{"kt", "Kotlin"},
	{"kts", "Kotlin"},
	{"scala", "Scala"},
	{"groovy", "Groovy"},
	{"gradle", "Groovy"},
	{"clj", "Clojure"},
	{"php", "PHP"},
	{"swift", "Swift"},
	{"m", "Objective-C"},
	{"mm", "Objective-C++"},
	{"sh", "Shell"},
	{"bash", "Shell"},
	{"zsh", "Shell"},
	{"ps1", "PowerShell"},
	{"pl", "Perl"},
	{"pm", "Perl"},
	{"lua", "Lua"},
	{"r", "R"},
	{"sql", "SQL"},
	{"html", "HTML"},
	{"htm", "HTML"},
	{"css", "CSS"},
	{"scss", "SCSS"},
	{"sass", "Sass"},
	{"less", "Less"},
	{"vue", "Vue"},
	{"svelte", "Svelte"},
	{"ex", "Elixir"},
	{"exs", "Elixir"},
	{"erl", "Erlang"},
	{"hs", "Haskell"},
	{"ml", "OCaml"},
	{"fs", "F#"},
	{"dart", "Dart"},
	{"zig", "Zig"},
	{"nim", "Nim"},
	{"jl", "Julia"},
	{"tf", "HCL"},
	{"proto", "Protocol Buffers"},
	{"mk", "Makefile"},
	{"cmake", "CMake"},
};

/* Whole file names (the last path component). */
static const struct lang_ext names[] = {
	{"Makefile", "Makefile"},     {"GNUmakefile", "Makefile"}, {"CMakeLists.txt", "CMake"},
	{"Dockerfile", "Dockerfile"}, {"Rakefile", "Ruby"},	   {"Gemfile", "Ruby"},
};

const char *nsh_forge_lang_of(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *dot;

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(base, names[i].ext))
			return names[i].name;
	dot = strrchr(base, '.');
	if (!dot || dot == base || !dot[1])
		return NULL;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (!strcasecmp(dot + 1, exts[i].ext))
			return exts[i].name;
	return NULL;
}
