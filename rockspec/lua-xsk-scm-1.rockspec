-- The development rock, for a checkout: `sudo make install` runs
-- `luarocks --lua-version=5.1 make --deps-mode=none` with it.  The same as the
-- release rockspec (rockspec/lua-xsk-0.2.0-1.rockspec) but for its version
-- and source; a spec checks that the two agree.
rockspec_format = "3.0"
package = "lua-xsk"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-xsk/lua-xsk",
  branch = "main",
}
description = {
  summary = "Linux AF_XDP sockets for LuaJIT",
  detailed = [[
    AF_XDP sockets over libxdp with UMEM, fill/completion/RX/TX rings, shared
    UMEM, frame ownership checked in C, and a batch API whose every call the
    LuaJIT JIT compiles.  Packet headers, checksums, templates, pcap, live
    statistics, and XDP programs to steer only the traffic you want to Lua.
    Installs the tools xsk-txgen, xsk-capture, xsk-responder, xsk-udp-echo,
    xsk-udp-sink and xsk-detach.  Needs LuaJIT, a Linux kernel with AF_XDP, libxdp,
    libbpf and clang (Debian: luajit libluajit-5.1-dev libxdp-dev libbpf-dev
    clang); AF_XDP needs root at run time.
  ]],
  homepage = "https://github.com/lua-xsk/lua-xsk",
  issues_url = "https://github.com/lua-xsk/lua-xsk/issues",
  license = "MIT",
  labels = { "networking", "xdp", "af_xdp", "luajit", "ffi" },
}
supported_platforms = { "linux" }
-- LuaJIT (Lua 5.1 for luarocks): the FFI is what the hot path runs on.
dependencies = {
  "lua == 5.1",
  "argparse >= 0.7",
}
-- Debian: libluajit-5.1-dev, libxdp-dev, libbpf-dev, clang.
external_dependencies = {
  LUAJIT = { header = "luajit-2.1/lauxlib.h" },
  LIBXDP = { header = "xdp/xsk.h", library = "xdp" },
  LIBBPF = { header = "bpf/libbpf.h", library = "bpf" },
  CLANG = { program = "clang" },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS) -I$(LIBXDP_INCDIR) -I$(LIBBPF_INCDIR)",
    LDFLAGS = "-L$(LIBXDP_LIBDIR) -L$(LIBBPF_LIBDIR)",
    LUAJIT_INC = "-I$(LUAJIT_INCDIR)/luajit-2.1",
    BPF_CLANG = "$(CLANG_BINDIR)/clang",
  },
  install_target = "rock-install",
  install_variables = {
    INST_PREFIX = "$(PREFIX)",
    INST_LUADIR = "$(LUADIR)",
    INST_LIBDIR = "$(LIBDIR)",
    INST_BINDIR = "$(BINDIR)",
  },
  copy_directories = { "docs", "examples" },
}
-- The tools start with #!/usr/bin/env luajit: luarocks' wrapper would run
-- them with its own Lua, which need not be LuaJIT.
deploy = {
  wrap_bin_scripts = false,
}
