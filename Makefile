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

.PHONY: all test demo deps install rock-install clean
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

# Both install what they need first, so they are the whole set-up.
test: deps
	$(MAKE) all bench-bin
	./spec/run

demo: deps
	$(MAKE) all
	./examples/demo.sh

install: deps
	luarocks --lua-version=5.1 make rockspec/lua-xsk-scm-1.rockspec LUA_INCDIR=/usr/include/luajit-2.1

# Called by luarocks with INST_LUADIR and INST_LIBDIR.
rock-install: all
	install -d $(INST_LUADIR)/xsk $(INST_LIBDIR)/xsk $(INST_LUADIR)/xsk/bpf
	install -m 644 lua/xsk/*.lua $(INST_LUADIR)/xsk/
	install -m 755 $(CORE_SO) $(INST_LIBDIR)/xsk/core.so
	install -m 644 bpf/*.bpf.o $(INST_LUADIR)/xsk/bpf/

clean:
	rm -rf build $(CORE_SO) $(CLEAN_EXTRA)
