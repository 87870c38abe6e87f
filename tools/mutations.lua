-- The mutations `make mutate` (tools/mutate.lua) applies, one at a time, to a
-- scratch copy: each breaks one promise, and the specs it names must catch it.
-- `from` must occur exactly once in `file`; `to` replaces it.  Keep the spec
-- lists short: only the specs that guard that promise run.
return {
  -- ---- lua/xsk/headers.lua: IPv6 extension headers and fragments ----
  {
    name = "headers.parse does not follow IPv6 Routing headers",
    file = "lua/xsk/headers.lua",
    from = "if nh == 0 or nh == 43 or nh == 60 then",
    to = "if nh == 0 or nh == 60 then",
    specs = { "spec/headers_spec.lua" },
  },
  {
    name = "headers.parse does not follow IPv6 Destination Options headers",
    file = "lua/xsk/headers.lua",
    from = "if nh == 0 or nh == 43 or nh == 60 then",
    to = "if nh == 0 or nh == 43 then",
    specs = { "spec/headers_spec.lua" },
  },
  {
    name = "headers.parse does not follow IPv6 Authentication Headers",
    file = "lua/xsk/headers.lua",
    from = "    elseif nh == 51 then\n",
    to = "    elseif false then\n",
    specs = { "spec/headers_spec.lua" },
  },
  {
    name = "headers.parse does not follow IPv6 Fragment headers",
    file = "lua/xsk/headers.lua",
    from = "    elseif nh == 44 then\n",
    to = "    elseif false then\n",
    specs = { "spec/headers_spec.lua" },
  },
  {
    name = "headers.parse reads a later IPv6 fragment as if it began with the upper header",
    file = "lua/xsk/headers.lua",
    from = "if band(rd16(p, off + 2), 0xfff8) ~= 0 then",
    to = "if false then",
    specs = { "spec/headers_spec.lua" },
  },
  {
    name = "headers.parse does not flag an IPv4 first fragment (MF set, offset 0)",
    file = "lua/xsk/headers.lua",
    from = "if band(fo, 0x3fff) ~= 0 then out.frag = 1 end",
    to = "if band(fo, 0x1fff) ~= 0 then out.frag = 1 end",
    specs = { "spec/headers_spec.lua" },
  },

  -- ---- lua/xsk/frame.lua ----
  {
    name = "frame:setlen without its bounds check",
    file = "lua/xsk/frame.lua",
    from = "function Frame:setlen(n)\n  if n < 0 or n > self.cap then",
    to = "function Frame:setlen(n)\n  if false then",
    specs = { "spec/frame_spec.lua" },
  },
  {
    name = "batch:push onto a full batch writes one past its end",
    file = "lua/xsk/frame.lua",
    from = "  if n >= self.cap then\n    error((\"xsk: batch is full",
    to = "  if n > self.cap then\n    error((\"xsk: batch is full",
    specs = { "spec/frame_spec.lua" },
  },
  {
    name = "batch:remove takes an index one past the batch's end",
    file = "lua/xsk/frame.lua",
    from = "if i < 0 or i >= n then",
    to = "if i < 0 or i > n then",
    specs = { "spec/frame_spec.lua" },
  },

  -- ---- lua/xsk/umem.lua ----
  {
    name = "a UMEM never closed is not freed by the GC (no finaliser)",
    file = "lua/xsk/umem.lua",
    from = "  ffi.gc(u, C.lxsk_umem_free)\n",
    to = "",
    specs = { "spec/umem_spec.lua", "spec/lifecycle_spec.lua" },
  },

  -- ---- bpf/xsk_steer.c ----
  {
    name = "xsk_steer ignores a rule's action (every match is redirected)",
    file = "bpf/xsk_steer.c",
    from = "\t\tif (r->action == LXSK_ACT_PASS)\n\t\t\treturn XDP_PASS;\n"
      .. "\t\tif (r->action == LXSK_ACT_DROP)\n\t\t\treturn XDP_DROP;\n",
    to = "",
    specs = { "spec/steer_spec.lua" },
    note = "the spec that sends traffic through pass and drop rules comes with the prog branch",
  },
}
