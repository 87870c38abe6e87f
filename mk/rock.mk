# The rock: what `luarocks install lua-xsk` puts where, and how to pack one.
#
#   make rock            packs build/rock/lua-xsk-$(VERSION)-1.src.rock from this
#                        clone's HEAD with the release rockspec, as a release does
#   sudo make install    builds and installs this checkout with luarocks (scm-1),
#                        into /usr/local or ROCK_TREE=DIR
#   sudo make uninstall  removes it again (same ROCK_TREE)
#
# A rock install puts the Lua modules in the tree's share/lua/5.1/xsk/, the
# core in lib/lua/5.1/xsk/core.so with the XDP programs next to it in
# lib/lua/5.1/xsk/bpf/ (where xsk.steer looks), docs/ and examples/ in the
# rock's own folder, and the TOOLS as commands in the tree's bin/.

# The one version number: the core's (csrc/module.c), which xsk.version reports.
VERSION := $(shell sed -n 's/^\#define LXSK_VERSION "\(.*\)"$$/\1/p' csrc/module.c)

# Commands on the PATH after a rock install, COMMAND=SCRIPT, one a line.  Each
# script starts with #!/usr/bin/env luajit and is installed as it is.
TOOLS := \
	xsk-detach=tools/xsk-detach \
	xsk-txgen=examples/txgen.lua \
	xsk-capture=examples/capture.lua \
	xsk-responder=examples/responder.lua \
	xsk-udp-echo=examples/udp_echo.lua \
	xsk-udp-sink=examples/udp_sink.lua \
	xsk-latency=examples/latency.lua \
	xsk-replay=examples/replay.lua

LUA_MODULES := $(patsubst lua/%,%,$(shell find lua -name '*.lua' | sort))
ROCK_DIR    := $(BUILD)/rock
RELEASE_ROCKSPEC := rockspec/lua-xsk-$(VERSION)-1.rockspec
# The one thing a pack here changes in the release rockspec: the source is a
# clone of this checkout instead of the project's repository.
PROJECT_URL := git+https://github.com/lua-xsk/lua-xsk

.PHONY: rock rock-install install uninstall tools-list

# Called by luarocks (rockspec/*.rockspec) with the rock's own folders.
rock-install: all
	@test -n "$(INST_LUADIR)" -a -n "$(INST_LIBDIR)" -a -n "$(INST_BINDIR)" || \
		{ echo "rock-install is run by luarocks; use: sudo make install" >&2; exit 1; }
	for m in $(LUA_MODULES); do install -D -m 644 lua/$$m $(INST_LUADIR)/$$m || exit 1; done
	install -D -m 755 $(CORE_SO) $(INST_LIBDIR)/xsk/core.so
	install -d $(INST_LIBDIR)/xsk/bpf $(INST_BINDIR)
	install -m 644 $(BPF_OBJS) $(BPF_HDRS) $(INST_LIBDIR)/xsk/bpf/
	$(foreach t,$(TOOLS),install -m 755 $(word 2,$(subst =, ,$(t))) $(INST_BINDIR)/$(word 1,$(subst =, ,$(t))) &&) true
	$(if $(INST_PREFIX),install -d $(INST_PREFIX) && install -m 644 README.md LICENSE CHANGELOG.md $(INST_PREFIX)/)

# The commands and their scripts, one a line (for specs and CI).
tools-list:
	@$(foreach t,$(TOOLS),echo "$(word 1,$(subst =, ,$(t))) $(word 2,$(subst =, ,$(t)))";)

# Packs the release rockspec exactly as `luarocks pack` does for a release,
# from a throwaway clone of HEAD tagged v$(VERSION) there (committed files
# only; nothing here is tagged).  Installing the result builds from source:
#   luarocks --lua-version=5.1 install --deps-mode=none build/rock/lua-xsk-$(VERSION)-1.src.rock
rock:
	@test -f $(RELEASE_ROCKSPEC) || { echo "make rock: no $(RELEASE_ROCKSPEC) for version $(VERSION)" >&2; exit 1; }
	@git diff --quiet HEAD -- || echo "make rock: uncommitted changes are not in the rock (it packs $$(git rev-parse --short HEAD))"
	rm -rf $(ROCK_DIR)
	mkdir -p $(ROCK_DIR)
	git clone --quiet --no-local . $(ROCK_DIR)/lua-xsk
	git -C $(ROCK_DIR)/lua-xsk checkout --quiet --detach $$(git rev-parse HEAD)
	git -C $(ROCK_DIR)/lua-xsk tag -f v$(VERSION) >/dev/null
	sed 's#"$(PROJECT_URL)"#"git+file://$(abspath $(ROCK_DIR))/lua-xsk"#' $(RELEASE_ROCKSPEC) \
		> $(ROCK_DIR)/lua-xsk-$(VERSION)-1.rockspec
	grep -q 'git+file://' $(ROCK_DIR)/lua-xsk-$(VERSION)-1.rockspec
	cd $(ROCK_DIR) && GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=advice.detachedHead GIT_CONFIG_VALUE_0=false \
		luarocks --lua-version=5.1 pack lua-xsk-$(VERSION)-1.rockspec
	@echo "make rock: $(ROCK_DIR)/lua-xsk-$(VERSION)-1.src.rock"

# This checkout into the system tree (/usr/local), or into ROCK_TREE when
# set; Lua dependencies come from Debian (make deps), so luarocks fetches nothing.
ROCK_TREE ?=
LUAROCKS := luarocks --lua-version=5.1 $(if $(ROCK_TREE),--tree $(ROCK_TREE))

install: deps
	$(LUAROCKS) make --deps-mode=none rockspec/lua-xsk-scm-1.rockspec

uninstall:
	$(LUAROCKS) remove lua-xsk
