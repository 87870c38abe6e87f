# lua-xsk.  Every output goes under $(BUILD) (build/ unless set):
#   build/lua/xsk/core.so       the C core and the Lua C module xsk.core
#   build/lua/xsk/bpf/*.bpf.o   the XDP programs (found next to core.so)
#   build/obj/, build/gen/      objects; the FFI declarations cut from the headers
#   build/bench-core/           make bench-core's library: the core's objects and a simulated kernel
# From a checkout, Lua finds the modules with package.path "lua/?.lua" and
# package.cpath "build/lua/?.so" (spec/support/paths.lua, examples, tools).
BUILD   ?= build
LUAJIT_INC ?= $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
CC      ?= cc
CFLAGS  ?= -O2 -g
# The flags the code needs are kept apart from CFLAGS, so that a CFLAGS given
# on the command line (luarocks passes one) adds to them instead of replacing them.
LXSK_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Werror -Icsrc $(LUAJIT_INC)
LDLIBS  += -lxdp -lbpf
SANFLAGS ?=

CORE_SRC := $(sort $(wildcard csrc/*.c))
CORE_HDR := $(wildcard csrc/*.h)
CORE_OBJ := $(CORE_SRC:csrc/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/cdefs.o
CORE_SO  := $(BUILD)/lua/xsk/core.so
# The headers whose FFI sections Lua declares, in the order the FFI needs them.
CDEF_HDR := csrc/meta_abi.h csrc/lxsk.h csrc/threads.h csrc/checksum.h csrc/steer_abi.h csrc/netif.h csrc/leftover.h \
	csrc/prog.h csrc/steer.h csrc/packet.h csrc/measure.h

.PHONY: all test demo deps clean lint
all: $(CORE_SO)

$(BUILD)/obj/%.o: csrc/%.c $(CORE_HDR) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(LXSK_CFLAGS) $(SANFLAGS) -c -o $@ $<

$(BUILD)/gen/cdefs.c: mk/gen-cdefs.awk $(CDEF_HDR) | $(BUILD)/gen
	awk -f mk/gen-cdefs.awk $(CDEF_HDR) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/cdefs.o: $(BUILD)/gen/cdefs.c $(CORE_HDR) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(LXSK_CFLAGS) $(SANFLAGS) -c -o $@ $<

$(BUILD)/obj $(BUILD)/gen $(BUILD)/lua/xsk:
	mkdir -p $@

$(CORE_SO): $(CORE_OBJ) | $(BUILD)/lua/xsk
	$(CC) -shared $(SANFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Fragments add their own targets (bpf/, bench/, reliability) and extend `all`.
include mk/*.mk

deps:
	./.ci/deps

# Both install what they need first, so they are the whole set-up.
test: deps
	$(MAKE) all bench-bin
	./spec/run

demo: deps
	$(MAKE) all
	./examples/demo.sh

# luacheck (Debian: lua-check); LINT_FILES picks files.
LINT_FILES ?= lua examples bench tools spec
lint:
	EXTRA_DEPS=lua-check ./.ci/deps
	luacheck --quiet $(LINT_FILES) tools/xsk-detach .ci/rock_check.lua

clean:
	rm -rf $(BUILD)
