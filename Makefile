# lua-xsk: `make` builds the C module in place (lua/xsk/core.so) and the XDP programs.
LUAJIT_INC ?= $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Werror $(LUAJIT_INC)
LDLIBS  += -lxdp -lbpf
SANFLAGS ?=

CORE_SRC := $(sort $(wildcard csrc/*.c))
CORE_OBJ := $(CORE_SRC:csrc/%.c=build/%.o)
CORE_SO  := lua/xsk/core.so

.PHONY: all test demo deps install clean
all: $(CORE_SO)

build/%.o: csrc/%.c $(wildcard csrc/*.h) | build
	$(CC) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

build:
	mkdir -p build

$(CORE_SO): $(CORE_OBJ)
	$(CC) -shared $(SANFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Fragments add their own targets (bpf/, bench/, reliability) and extend `all`.
-include mk/*.mk

deps:
	./.ci/deps

test: all
	./spec/run

demo: all
	./examples/demo.sh

install: all
	luarocks --lua-version=5.1 make rockspec/lua-xsk-scm-1.rockspec LUA_INCDIR=/usr/include/luajit-2.1

clean:
	rm -rf build $(CORE_SO) $(CLEAN_EXTRA)
