# nightshift build. 'make test' is what CI runs (see README.md).
#
# Objects go under build/<flavour>/: "rel" (optimised, hardened; ./nightshift),
# "asan" (AddressSanitizer + UBSan; what the tests run), "fuzz" (clang with
# libFuzzer). Every .c under src/ except src/main.c goes into libnsh.a, so a
# new module needs no change here.

.DEFAULT_GOAL := all
.SUFFIXES:
# Build on every core; a -j on the command line still wins ('make -j1' for a
# serial build). Only the top make adds it: sub-makes share its jobserver.
ifeq ($(MAKELEVEL),0)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
# Keep object files of tests and fuzzers between runs.
.SECONDARY:

CC    ?= cc
CLANG ?= clang
PKGS  := jansson sqlite3 libseccomp libsodium yaml-0.1 libxml-2.0 libmicrohttpd libcurl libcrypto zlib \
	libpq

PKG_OK     := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

WARN := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wwrite-strings -Wformat=2 \
	-Wvla -Wundef -Wimplicit-fallthrough -Wswitch-enum -Wno-missing-field-initializers \
	-fno-common
INC  := -Isrc $(PKG_CFLAGS)

REL_CFLAGS   := $(WARN) -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
REL_LDFLAGS  := -pie -Wl,-z,relro,-z,now
ASAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_CFLAGS  := $(WARN) -O1 -g -fno-omit-frame-pointer $(ASAN_FLAGS) -DNSH_TESTING
ASAN_LDFLAGS := $(ASAN_FLAGS)
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -DNSH_TESTING
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined

LIB_SRC    := $(sort $(shell find src -name '*.c' ! -path src/main.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
INSIDE_SRC := $(sort $(wildcard tests/sandbox/*.c))
BENCH_SRC  := $(sort $(wildcard bench/*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FORMAT_SRC := $(sort $(shell find src tests bench -name '*.[ch]'))

UNIT_BIN   := $(UNIT_SRC:%.c=build/asan/%)
HELPER_BIN := $(HELPER_SRC:%.c=build/asan/%)
INSIDE_BIN := $(INSIDE_SRC:%.c=build/plain/%)
BENCH_BIN  := $(BENCH_SRC:%.c=build/rel/%)
FUZZ_BIN   := $(FUZZ_SRC:%.c=build/fuzz/%)

FUZZ_SECONDS ?= 10
# 0 lets libFuzzer pick a seed; CI fixes one so that its run can be replayed
FUZZ_SEED ?= 0

.PHONY: all deps demo test test-pg test-build bench fuzz format check-format check-banned check-pkgs clean

all: nightshift

deps:
	@scripts/deps.sh

check-pkgs:
	@test "$(PKG_OK)" = yes || { echo "missing development packages for: $(PKGS); run 'make deps'" >&2; exit 1; }

# The web UI is embedded by src/server/web.c with .incbin: rebuild it when web/ changes.
WEB_FILES := $(filter-out web/README.md,$(sort $(wildcard web/*)))
build/rel/src/server/web.o build/asan/src/server/web.o build/fuzz/src/server/web.o: $(WEB_FILES)

# --- release build ---
build/rel/%.o: %.c | check-pkgs
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) $(INC) -MMD -MP -c $< -o $@

build/rel/libnsh.a: $(LIB_SRC:%.c=build/rel/%.o)
	@rm -f $@
	ar rcs $@ $^

nightshift: build/rel/src/main.o build/rel/libnsh.a
	$(CC) $(REL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/rel/bench/%: build/rel/bench/%.o build/rel/libnsh.a
	$(CC) $(REL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# --- sanitizer build (tests) ---
build/asan/%.o: %.c | check-pkgs
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(INC) -MMD -MP -c $< -o $@

build/asan/libnsh.a: $(LIB_SRC:%.c=build/asan/%.o)
	@rm -f $@
	ar rcs $@ $^

build/asan/nightshift: build/asan/src/main.o build/asan/libnsh.a
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/tests/%: build/asan/tests/%.o build/asan/libnsh.a
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Programs that run inside a sandbox: static, without sanitizers (LeakSanitizer
# needs ptrace, which the sandbox denies).
build/plain/tests/sandbox/%: tests/sandbox/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -static -o $@ $<

test-build: build/asan/nightshift $(UNIT_BIN) $(HELPER_BIN) $(INSIDE_BIN)

# The last line printed is "N passed, N failed". With CI=true the format
# check and a fuzz smoke run come first.
test: deps
	@if [ "$$CI" = true ]; then $(MAKE) --no-print-directory check-format fuzz FUZZ_SECONDS=5 FUZZ_SEED=1; fi
	@$(MAKE) --no-print-directory check-banned test-build
	@tests/run.sh build/asan

# The same suite with every integration test's store on PostgreSQL: each script
# starts a throw-away cluster, each test gets a database (tests/integ/lib.sh,
# NSH_TEST_DB=pg; needs the server binaries and psql). The count of skipped
# checks comes before the last line, "N passed, N failed".
test-pg: deps
	@$(MAKE) --no-print-directory check-banned test-build
	@{ NSH_TEST_DB=pg tests/run.sh build/asan; echo $$? >build/asan/test-pg.rc; } | \
		tee build/asan/test-pg.out | grep --line-buffered -v -E '^[0-9]+ passed, [0-9]+ failed$$'; :
	@echo "skipped: $$(cat build/asan/test-logs/integ_*.log | grep -c '^ok .*# skip') integration" \
		"checks, $$(cat build/asan/test-logs/integ_*.log | grep -c '^ok .*# skip.*(postgresql: ')" \
		"of them for postgresql (grep '# skip' build/asan/test-logs/integ_*.log)"
	@tail -n 1 build/asan/test-pg.out
	@exit $$(cat build/asan/test-pg.rc)

# The flagship demo on a fresh home: demo-org made in the local forge, then
# "upgrade lodash from 3 to 4 across all services" run with its status live.
DEMO_HOME ?= $(CURDIR)/build/demo-home
demo: deps
	@$(MAKE) --no-print-directory nightshift
	@rm -rf $(DEMO_HOME)
	NIGHTSHIFT_HOME=$(DEMO_HOME) ./nightshift demo

# --- benchmarks (release flags; figures are printed, never asserted) ---
bench: deps
	@$(MAKE) --no-print-directory nightshift $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# --- fuzzing (clang + libFuzzer); 'make fuzz' smoke-runs every target ---
build/fuzz/%.o: %.c | check-pkgs
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(INC) -MMD -MP -c $< -o $@

build/fuzz/libnsh.a: $(LIB_SRC:%.c=build/fuzz/%.o)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/tests/fuzz/%: build/fuzz/tests/fuzz/%.o build/fuzz/libnsh.a
	$(CLANG) $(FUZZ_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# One make target per fuzzer, so that they run side by side under -j. Each
# prints its lines at once when it ends.
FUZZ_RUNS := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=fuzz-run-%)
fuzz: $(FUZZ_RUNS)

fuzz-run-%: build/fuzz/tests/fuzz/fuzz_%
	@f=$<; name=fuzz_$*; work=$$(mktemp -d); \
	cp -r tests/fuzz/corpus/$*/. $$work/ 2>/dev/null || true; \
	if $$f -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -max_len=4096 -print_final_stats=0 $$work \
		>build/fuzz/$$name.log 2>&1; then \
		echo "== $$name ($(FUZZ_SECONDS)s): $$(grep -E '^#[0-9]+.*DONE' build/fuzz/$$name.log | tail -n 1)"; \
		rm -rf $$work; \
	else \
		echo "== $$name ($(FUZZ_SECONDS)s) FAILED:"; tail -n 40 build/fuzz/$$name.log; rm -rf $$work; exit 1; \
	fi

# --- style ---
format:
	clang-format -i $(FORMAT_SRC)

check-format:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "check-format: ok"

# Every source file must include core/banned.h, as its last include (after
# every system header, whose declarations its macros would break).
check-banned:
	@bad=$$(for f in $(LIB_SRC) src/main.c; do \
		awk '/^#include/ { last = $$0 } END { if (last != "#include \"core/banned.h\"") print FILENAME }' $$f; \
	done); \
	if [ -n "$$bad" ]; then echo "#include \"core/banned.h\" must be the last include in: $$bad" >&2; exit 1; fi

clean:
	rm -rf build nightshift

# The agents' role prompts are embedded with .incbin, which the compiler's
# dependency files do not see.
$(foreach f,rel asan fuzz,build/$(f)/src/agent/prompts/prompts.o): $(wildcard src/agent/prompts/*.md)

-include $(shell find build -name '*.d' 2>/dev/null)
