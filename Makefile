# flashline — build, test, bench, fuzz.
#
#   make          build ./flashline (installs missing Debian packages first)
#   make test     build with ASan+UBSan and run the whole suite
#   make demo     the main job on the built-in simulator: back up, flash, verify a unit
#   make soak     fault soak: 1000 simulated units through faulty lines, every flash judged
#                 (SOAK_UNITS=N SOAK_SEED=S to change; a quick set runs in `make test`)
#   make bench    wire-time benchmarks against the simulator (timescale 1)
#   make fuzz     run the parser fuzzers (clang libFuzzer)
#   make deps     install the Debian packages the build and tests need
#   make install  install into $(DESTDIR)$(PREFIX) (default /usr/local); make uninstall

CC      ?= cc
# BUILD / BIN let several people build in one tree without sharing objects.
BUILD   ?= build
BIN     ?= flashline
PKGS    := lua5.4 libserialport libusb-1.0 jansson sqlite3 yaml-0.1 zlib libcrypto libcurl
DEB_PKGS := build-essential pkg-config clang liblua5.4-dev libserialport-dev libusb-1.0-0-dev \
            libjansson-dev libsqlite3-dev libyaml-dev zlib1g-dev libssl-dev libcurl4-openssl-dev python3 tmux

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(WARN) -pthread
OPT     ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# pkg-config is resolved lazily so that `make deps` can run before it exists.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lutil -lm

LIB_SRCS  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c src/*/*/*.c)))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/rel/bench/%)

REL_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/rel/%.o)
SAN_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/san/%.o)
REL_CLI   := $(CLI_SRCS:src/%.c=$(BUILD)/rel/%.o)
SAN_CLI   := $(CLI_SRCS:src/%.c=$(BUILD)/san/%.o)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/san/tests/%)

# --- version --------------------------------------------------------------------
# `flashline --version` prints VERSION and the git revision the binary was built
# from (with -dirty for uncommitted changes; "unknown" outside a git checkout).
# version.h is rewritten only when its text changes, so a new commit rebuilds
# main.c and nothing else.
VERSION := 0.3.0
GIT_REV  = $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell \
           git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD -- 2>/dev/null && echo -dirty)
VERSION_H := $(BUILD)/gen/version.h
# made from the binary's --help texts (see "manual page and shell completion")
MAN_PAGE   := $(BUILD)/gen/flashline.1
COMPLETION := $(BUILD)/gen/flashline.bash

$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@printf '#define FLASHLINE_VERSION "%s"\n#define FLASHLINE_GIT_REV "%s"\n' '$(VERSION)' '$(GIT_REV)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/rel/cli/main.o $(BUILD)/san/cli/main.o: $(VERSION_H)
$(BUILD)/rel/cli/main.o $(BUILD)/san/cli/main.o: BASE_CFLAGS += -I$(BUILD)/gen

.PHONY: FORCE
FORCE:

# --- embedded SQL (audit log: db/) --------------------------------------------
# The schema, migrations and canned queries are compiled into the library as
# one generated C file, so the binary runs from any directory.  The db/
# directories are prerequisites so that adding or removing a file regenerates.
DB_SQL    := db/schema.sql $(sort $(wildcard db/migrations/*.sql)) $(sort $(wildcard db/queries/*.sql))
DB_SQL_C  := $(BUILD)/gen/db_sql.c
REL_OBJS  += $(BUILD)/rel/gen/db_sql.o
SAN_OBJS  += $(BUILD)/san/gen/db_sql.o

$(DB_SQL_C): db/embed.sh $(DB_SQL) db/migrations db/queries
	@mkdir -p $(dir $@)
	sh db/embed.sh $(DB_SQL) >$@.tmp && mv $@.tmp $@

$(BUILD)/rel/gen/db_sql.o: $(DB_SQL_C) src/storage/auditdb_sql.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) -c $< -o $@

$(BUILD)/san/gen/db_sql.o: $(DB_SQL_C) src/storage/auditdb_sql.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -c $< -o $@

# the audit-log tests share a helper header
$(BUILD)/san/tests/test_auditdb $(BUILD)/san/tests/test_auditdb_query: tests/auditdb_testutil.h
# --- end of embedded SQL ------------------------------------------------------

# --- OBK pin rules (db/obk-pin-rules.jsonl) ------------------------------------
# The one rules file: installed for other tools and stations to read, and
# carried by the binary as its built-in copy (parsed at run time, see
# src/formats/obk_rules.h), so it runs from any directory.
OBK_RULES   := db/obk-pin-rules.jsonl
OBK_RULES_C := $(BUILD)/gen/obk_rules.c
REL_OBJS    += $(BUILD)/rel/gen/obk_rules.o
SAN_OBJS    += $(BUILD)/san/gen/obk_rules.o

$(OBK_RULES_C): $(OBK_RULES) db/embed_text.sh
	@mkdir -p $(dir $@)
	sh db/embed_text.sh fl_obk_rules_text $(OBK_RULES) >$@.tmp && mv $@.tmp $@

$(BUILD)/rel/gen/obk_rules.o: $(OBK_RULES_C)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) -c $< -o $@

$(BUILD)/san/gen/obk_rules.o: $(OBK_RULES_C)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -c $< -o $@

.PHONY: all deps test demo bench fuzz soak clean install uninstall
.DEFAULT_GOAL := all

all: deps $(BIN) $(MAN_PAGE) $(COMPLETION)

# --- dependencies -----------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "flashline: installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
	    { echo "flashline: apt-get failed; install by hand:$$missing" >&2; exit 1; }; \
	fi

# --- release build ----------------------------------------------------------
$(BUILD)/rel/%.o: src/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/rel/libflashline.a: $(REL_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(REL_CLI) $(BUILD)/rel/libflashline.a
	$(CC) $(BASE_CFLAGS) $(OPT) $(REL_CLI) $(BUILD)/rel/libflashline.a $(PKG_LIBS) -o $@

# --- sanitizer build (tests) -------------------------------------------------
$(BUILD)/san/%.o: src/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/libflashline.a: $(SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/san/flashline: $(SAN_CLI) $(BUILD)/san/libflashline.a
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) $(SAN_CLI) $(BUILD)/san/libflashline.a $(PKG_LIBS) -o $@

$(BUILD)/san/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/san/libflashline.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) $(PKG_CFLAGS) -Itests $< $(BUILD)/san/libflashline.a $(PKG_LIBS) -o $@

# Unit tests are C programs (tests/test_*.c); CLI tests are shell scripts
# (tests/cli/*.sh) that drive the sanitizer build of the binary against the
# simulator.  tests/run collects every result into one "N passed, N failed".
test: deps $(BUILD)/san/flashline $(TEST_BINS) $(BIN)
	@BUILD=$(BUILD) FLASHLINE_BIN=$(CURDIR)/$(BUILD)/san/flashline bash tests/run $(TEST_BINS)

$(BUILD)/rel/bench/%: tests/bench/%.c $(BUILD)/rel/libflashline.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) $(PKG_CFLAGS) $< $(BUILD)/rel/libflashline.a $(PKG_LIBS) -o $@

demo: all
	@bash tests/demo.sh

# The full fault soak (tests/soak/soak.py): the sanitizer build, 2 units at a time.
SOAK_UNITS ?= 1000
SOAK_SEED  ?= 1
soak: deps $(BUILD)/san/flashline
	@python3 tests/soak/soak.py --units $(SOAK_UNITS) --seed $(SOAK_SEED) --require-faults \
	    --cases tests/soak/cases.txt --bin $(CURDIR)/$(BUILD)/san/flashline \
	    --failures $(BUILD)/soak-failures.txt

bench: deps $(BIN) $(BENCH_BINS)
	@BUILD=$(BUILD) bash tests/bench/run

fuzz: deps
	@bash tests/fuzz/run

clean:
	rm -rf $(BUILD) $(BIN)

# --- manual page and shell completion ------------------------------------------
# Both are made from the built binary's own --help texts (src/cli/gen-*.sh), so
# they cannot drift from the program; tests/cli/install.sh and completion.sh
# check them.
$(MAN_PAGE): $(BIN) src/cli/gen-man.sh
	@mkdir -p $(dir $@)
	sh src/cli/gen-man.sh $(abspath $(BIN)) >$@.tmp && mv $@.tmp $@

$(COMPLETION): $(BIN) src/cli/gen-completion.sh src/cli/completion.bash
	@mkdir -p $(dir $@)
	sh src/cli/gen-completion.sh $(abspath $(BIN)) src/cli/completion.bash >$@.tmp && mv $@.tmp $@

# --- install -------------------------------------------------------------------
# The release binary, the Lua steps (found beside the executable as
# ../share/flashline/lua: no environment variable needed), the stock recipes
# (`flashline run NAME` finds them), the OBK pin rules, the man page, bash completion and the
# udev rule for CH341A programmers.  DESTDIR stages the tree for a package.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      := $(PREFIX)/bin
DATADIR     := $(PREFIX)/share/flashline
MAN1DIR     := $(PREFIX)/share/man/man1
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
UDEVDIR     ?= $(PREFIX)/lib/udev/rules.d
UDEV_RULE   := src/link/udev/60-flashline-ch341a.rules
LUA_FILES   := lua/API.md $(sort $(wildcard lua/steps/*.lua lua/examples/*))
RECIPES     := $(sort $(wildcard recipes/*.yaml))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/recipes $(DESTDIR)$(MAN1DIR) \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(UDEVDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/flashline
	for f in $(LUA_FILES); do install -D -m 644 $$f $(DESTDIR)$(DATADIR)/$$f || exit 1; done
	install -m 644 $(RECIPES) $(DESTDIR)$(DATADIR)/recipes/
	install -D -m 644 $(OBK_RULES) $(DESTDIR)$(DATADIR)/$(OBK_RULES)
	sed 's|PREFIX/|$(PREFIX)/|g' $(MAN_PAGE) >$(MAN_PAGE).installed
	install -m 644 $(MAN_PAGE).installed $(DESTDIR)$(MAN1DIR)/flashline.1
	install -m 644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/flashline
	install -m 644 $(UDEV_RULE) $(DESTDIR)$(UDEVDIR)/
	@echo "flashline: installed in $(DESTDIR)$(PREFIX).  For CH341A programmers, as root:"
	@case "$(UDEVDIR)" in /usr/lib/udev/rules.d|/lib/udev/rules.d|/etc/udev/rules.d) ;; *) \
	  echo "  ln -s $(UDEVDIR)/$(notdir $(UDEV_RULE)) /etc/udev/rules.d/   (udev does not read $(UDEVDIR))";; esac
	@echo "  udevadm control --reload && udevadm trigger   (then replug the programmer;"
	@echo "  headless stations: usermod -aG plugdev USER)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/flashline $(DESTDIR)$(MAN1DIR)/flashline.1 \
	    $(DESTDIR)$(BASHCOMPDIR)/flashline $(DESTDIR)$(UDEVDIR)/$(notdir $(UDEV_RULE))
	rm -rf $(DESTDIR)$(DATADIR)

-include $(REL_OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(REL_CLI:.o=.d) $(SAN_CLI:.o=.d)
