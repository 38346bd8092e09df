# riskpipe - GNU make build.  `make` leaves ./riskpipe; objects go under build/.
# Targets: all test demo asan valgrind valgrind-ci fuzz install clean deps bench docs

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

PKG_LIBS := jansson openblas lapacke
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null)
PKG_LDLIBS := $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null)
ifeq ($(PKG_LDLIBS),)
PKG_LDLIBS := -ljansson -lopenblas -llapacke
endif
# libpq: pkg-config first, pg_config as the fallback.
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I$$(pg_config --includedir))
PQ_LDLIBS := $(shell pkg-config --libs libpq 2>/dev/null || echo -L$$(pg_config --libdir) -lpq)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
              -iquote src $(PKG_CFLAGS) $(PQ_CFLAGS) -MMD -MP
LDLIBS   := $(PQ_LDLIBS) $(PKG_LDLIBS) -lm -pthread
ALL_LDFLAGS := $(LDFLAGS) $(EXTRA_LDFLAGS)

# The library: every module except the command layer.
LIB_SRC := $(filter-out src/main.c src/cmd_%.c,$(wildcard src/*.c)) $(wildcard src/util/*.c)
CMD_SRC := src/main.c $(wildcard src/cmd_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/librisk.a
BIN     := $(BUILD)/riskpipe

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit asan valgrind valgrind-ci fuzz fuzz-bins install clean deps demo bench check-deps

all: riskpipe

riskpipe: $(BIN)
	@if [ "$(BUILD)" = "build" ]; then cp $(BIN) riskpipe; fi

$(BIN): $(CMD_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(LIB) $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Small drivers that tests use to cross-check the library against Python
# references (tests/tools/NAME.c -> build/tests/tools/NAME).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

unit: $(UNIT_BIN) $(TOOL_BIN)

# The whole suite: unit tests, CLI tests and integration tests against a
# throwaway PostgreSQL cluster.  Last line: "N passed, N failed".
test: riskpipe $(BIN) $(UNIT_BIN) $(TOOL_BIN)
	@RISKPIPE=$(abspath $(BIN)) UNIT_DIR=$(abspath $(BUILD)/tests) TOOL_DIR=$(abspath $(BUILD)/tests/tools) bash tests/run.sh

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build/asan/riskpipe unit-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  RISKPIPE=$(abspath build/asan/riskpipe) UNIT_DIR=$(abspath build/asan/tests) TOOL_DIR=$(abspath build/asan/tests/tools) bash tests/run.sh

unit-asan: $(UNIT_BIN) $(TOOL_BIN)

# The suite under valgrind's memcheck (tests/valgrind.sh): every unit
# test, and every riskpipe process and test tool of the CLI and
# integration tests.  Any memcheck error, and any definitely or indirectly
# lost block, fails the run; the last TAP line before "N passed, N failed"
# says how many processes valgrind checked.  About 14 minutes here.
# valgrind-ci (CI's step, about 12 minutes) is the same without
# VALGRIND_CI_SKIP: test_model_io loads every prefix of a model file (some
# 3 minutes under valgrind; ASan and LSan run it in `make asan`, and every
# predict and bad_input.sh's truncated, edited and empty model files load
# models under valgrind); and with VALGRIND_CI=1, which runs the five
# commands the tests mark as repeats of one already checked (again, in
# tests/lib.sh) without valgrind.
VALGRIND_WRAP := $(abspath tests/valgrind.sh)
VALGRIND_CI_SKIP ?= test_model_io
valgrind: riskpipe $(UNIT_BIN) $(TOOL_BIN)
	RISKPIPE_WRAP=$(VALGRIND_WRAP) UNIT_WRAP=$(VALGRIND_WRAP) \
	  RISKPIPE=$(abspath $(BIN)) UNIT_DIR=$(abspath $(BUILD)/tests) TOOL_DIR=$(abspath $(BUILD)/tests/tools) bash tests/run.sh

valgrind-ci: riskpipe $(UNIT_BIN) $(TOOL_BIN)
	VALGRIND_CI=1 SKIP_TESTS="$(VALGRIND_CI_SKIP) $(SKIP_TESTS)" RISKPIPE_WRAP=$(VALGRIND_WRAP) UNIT_WRAP=$(VALGRIND_WRAP) \
	  RISKPIPE=$(abspath $(BIN)) UNIT_DIR=$(abspath $(BUILD)/tests) TOOL_DIR=$(abspath $(BUILD)/tests/tools) bash tests/run.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c, issue 6): the library rebuilt
# with clang under ASan + UBSan into build/fuzz/, one binary per target,
# each run for FUZZ_SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/NAME).  A finding stops the run and is saved under
# build/fuzz/findings/.  CSV_CHUNK=64: the CSV reader refills its buffer
# every 64 bytes, so small inputs reach the refill and growth paths.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang-14
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_CMD := src/cmd_common.c src/cmd_train.c src/cmd_predict.c
fuzz:
	$(MAKE) BUILD=build/fuzz CC=$(FUZZ_CC) CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -DCSV_CHUNK=64" \
	  EXTRA_LDFLAGS="-fsanitize=fuzzer,address,undefined" fuzz-bins
	bash tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

fuzz-bins: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_CMD:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(FUZZ_CMD:%.c=$(BUILD)/%.o) $(LIB) $(LDLIBS)

install: riskpipe
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 riskpipe $(DESTDIR)$(PREFIX)/bin/riskpipe
	install -m 0644 docs/riskpipe.1 $(DESTDIR)$(PREFIX)/share/man/man1/riskpipe.1

clean:
	rm -rf build riskpipe

# Installs the Debian packages riskpipe needs (as root or with sudo);
# otherwise prints the apt-get line and stops.
deps:
	@bash scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory riskpipe
	@bash scripts/demo.sh

bench: riskpipe
	@bash bench/run.sh $(SCALES)

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(UNIT_BIN:=.d) $(TOOL_BIN:=.d)
