rockspec_format = "3.0"
package = "lua-xsk"
version = "scm-1"
source = {
  url = "git+file:///dev/null",
}
description = {
  summary = "Linux AF_XDP sockets for LuaJIT",
  detailed = [[
    AF_XDP sockets over libxdp with UMEM, fill/completion/RX/TX rings, shared
    UMEM, frame ownership checked in C, and a batch API whose every call the
    LuaJIT JIT compiles.  Packet headers, checksums, templates, pcap, and XDP
    programs to steer only the traffic you want to Lua.
  ]],
  license = "MIT",
}
dependencies = {
  "lua == 5.1",
}
supported_platforms = { "linux" }
build = {
  type = "make",
  build_target = "all",
  install_target = "rock-install",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUAJIT_INC = "-I$(LUA_INCDIR)",
  },
  install_variables = {
    INST_LUADIR = "$(LUADIR)",
    INST_LIBDIR = "$(LIBDIR)",
  },
}
