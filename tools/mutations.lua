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

  -- ---- frames and batches: lua/xsk/frame.lua, csrc/frames.c ----
  {
    name = "frame:setlen without its bounds check",
    file = "lua/xsk/frame.lua",
    from = "  local want = bad_int(n, 0, room)\n  if want then error(argerror(\"xsk.frame: setlen\"",
    to = "  local want = nil\n  if want then error(argerror(\"xsk.frame: setlen\"",
    specs = { "spec/frame_spec.lua" },
  },
  {
    name = "batch:push onto a full batch writes one past its end",
    file = "csrc/frames.c",
    from = "\tif (b->n >= h->cap)\n\t\treturn lxsk_fail(ENOSPC, \"push: the batch is full",
    to = "\tif (b->n > h->cap)\n\t\treturn lxsk_fail(ENOSPC, \"push: the batch is full",
    specs = { "spec/frame_spec.lua" },
  },
  {
    name = "batch:remove takes an index one past the batch's end (Lua check)",
    file = "lua/xsk/frame.lua",
    from = "local want = bad_int(i, 0, self.n - 1)",
    to = "local want = bad_int(i, 0, self.n)",
    specs = { "spec/frame_spec.lua" },
  },
  {
    name = "lxsk_batch_remove takes an index one past the batch's end (C check, FFI callers)",
    file = "csrc/frames.c",
    from = "\tif (i >= b->n)\n\t\treturn lxsk_fail(ERANGE, \"remove:",
    to = "\tif (i > b->n)\n\t\treturn lxsk_fail(ERANGE, \"remove:",
    specs = { "spec/frame_spec.lua" },
  },

  -- ---- csrc/checksum.c ----
  {
    name = "checksum: a computed UDP checksum of zero goes out as zero (\"none\")",
    file = "csrc/checksum.c",
    from = "\tif (proto == PROTO_UDP && c == 0)\n\t\tc = 0xffff;",
    to = "\tif (proto == PROTO_UDP && c == 0 && 0)\n\t\tc = 0xffff;",
    specs = { "spec/checksum_spec.lua" },
  },
  {
    name = "checksum: an odd length's last byte summed as the low byte",
    file = "csrc/checksum.c",
    from = "uint8_t tail[2] = { p[0], 0 };",
    to = "uint8_t tail[2] = { 0, p[0] };",
    specs = { "spec/checksum_spec.lua" },
  },
  {
    name = "checksum: incremental update ignores an odd offset",
    file = "csrc/checksum.c",
    from = "\tif (odd) {\n\t\tso = swap16(so);",
    to = "\tif (odd && 0) {\n\t\tso = swap16(so);",
    specs = { "spec/checksum_spec.lua" },
  },
  {
    name = "checksum: an IPv4 first fragment (MF) summed as if whole",
    file = "csrc/checksum.c",
    from = "if (ld16(ip + 6) & 0x3fff)\n\t\t\treturn -EPROTO;",
    to = "if (ld16(ip + 6) & 0x1fff)\n\t\t\treturn -EPROTO;",
    specs = { "spec/checksum_spec.lua" },
  },

  -- ---- lua/xsk/template.lua ----
  {
    name = "template: set_src_ip/set_dst_ip leave the IPv4 header checksum stale",
    file = "lua/xsk/template.lua",
    from = "  ip.check = ntohs(update32(ntohs(ip.check), old, addr))\n",
    to = "",
    specs = { "spec/template_spec.lua" },
  },
  {
    name = "template: set_u32 at an odd payload offset updates the checksum as if even",
    file = "lua/xsk/template.lua",
    from = "band(pos - self.l4, 1)",
    to = "0",
    specs = { "spec/template_spec.lua" },
  },
  {
    name = "template: an updated UDP checksum of zero goes out as zero",
    file = "lua/xsk/template.lua",
    from = "  if c == 0 then c = 0xffff end\n",
    to = "",
    specs = { "spec/template_spec.lua" },
  },

  -- ---- lua/xsk/pcap.lua ----
  {
    name = "pcap writer: packets longer than snaplen kept whole",
    file = "lua/xsk/pcap.lua",
    from = "local cap = len < self.snaplen and len or self.snaplen",
    to = "local cap = len",
    specs = { "spec/pcap_spec.lua" },
  },
  {
    name = "pcap reader: byte-swapped microsecond files read as nanosecond",
    file = "lua/xsk/pcap.lua",
    from = "elseif swap32(magic) == M.MAGIC_US then swap, nano = true, false",
    to = "elseif swap32(magic) == M.MAGIC_US then swap, nano = true, true",
    specs = { "spec/pcap_spec.lua" },
  },
  {
    name = "pcap reader: a record's caplen over the file's snaplen accepted",
    file = "lua/xsk/pcap.lua",
    from = "if caplen > M.MAX_CAPLEN or (self.snaplen > 0 and caplen > self.snaplen) then",
    to = "if caplen > M.MAX_CAPLEN then",
    specs = { "spec/pcap_spec.lua" },
  },

  -- ---- lua/xsk/stats.lua ----
  {
    name = "stats: each line's drops count from the start, not from the last line",
    file = "lua/xsk/stats.lua",
    from = "  self.drops_last = drops\n",
    to = "",
    specs = { "spec/stats_spec.lua" },
  },
  {
    name = "stats: lines burst to catch up after a stall",
    file = "lua/xsk/stats.lua",
    from = "  if self.due <= t then self.due = t + self.interval end\n",
    to = "",
    specs = { "spec/stats_spec.lua" },
  },
  {
    name = "stats: the summary's kernel counters include what the sockets had before",
    file = "lua/xsk/stats.lua",
    from = "r.kernel[f] = k[f] - self.kernel_base[f]",
    to = "r.kernel[f] = k[f]",
    specs = { "spec/stats_spec.lua" },
  },

  -- ---- lua/xsk/umem.lua ----
  {
    name = "a UMEM never closed is not freed by the GC (no finaliser)",
    file = "lua/xsk/umem.lua",
    from = "  ffi.gc(u, C.lxsk_umem_free)\n",
    to = "",
    specs = { "spec/umem_spec.lua", "spec/lifecycle_spec.lua" },
  },

  -- ---- csrc/ring_*.c, batch.c, umem.c: what the ownership model sees (spec/support/model.lua) ----
  -- The first four live in the rings' hot loops: when those loops are rewritten,
  -- rewrite these to break the same promise.
  {
    name = "model: a recycled completion never reaches the pool (the frame stays the kernel's, on no ring)",
    file = "csrc/ring_pair.c",
    from = "\t\tif (__builtin_expect(!st, 0))\n\t\t\tcontinue;\n\t\town_set(st, free_byte);",
    to = "\t\tif (__builtin_expect(!st || (addr >> m->shift) % 7 == 3, 0))\n\t\t\tcontinue;\n"
      .. "\t\town_set(st, free_byte);",
    specs = { "spec/model_spec.lua" },
  },
  {
    name = "model: receiving releases some RX descriptors without handing them out",
    file = "csrc/ring_io.c",
    from = "\t\tif (__builtin_expect(!st, 0)) {\n\t\t\tif (!(d->options & XDP_PKT_CONTD)",
    to = "\t\tif (__builtin_expect(!st || (addr >> m->shift) % 5 == 2, 0)) {\n\t\t\tif (!(d->options & XDP_PKT_CONTD)",
    specs = { "spec/model_spec.lua" },
  },
  {
    name = "model: auto-fill overwrites a fill-ring entry with the next frame",
    file = "csrc/ring_pair.c",
    from = "\t\tring[i] = chunk;",
    to = "\t\tring[i - (i == 1)] = chunk;",
    specs = { "spec/model_spec.lua" },
  },
  {
    name = "model: tx:produce publishes one descriptor too few",
    file = "csrc/ring_io.c",
    from = "\txsk_ring_prod__submit(&p->tx, n);\n\treturn (int)n;",
    to = "\txsk_ring_prod__submit(&p->tx, n - (n > 1));\n\treturn (int)n;",
    specs = { "spec/model_spec.lua" },
  },
  {
    name = "ring_entries copies the third descriptor from the slot after it",
    file = "csrc/ring_watch.c",
    from = "\t\tconst struct xdp_desc *d = &ring[(cons + i) & mask];",
    to = "\t\tconst struct xdp_desc *d = &ring[(cons + i + (i == 2)) & mask];",
    specs = { "spec/rings_spec.lua" },
  },
  {
    name = "comp:consume hands a frame back at the kernel's completion address (off by one, odd headroom)",
    file = "csrc/batch.c",
    from = "(b->f[i].addr & p->frames->chunk_mask) + p->frames->data_offset",
    to = "b->f[i].addr",
    specs = { "spec/rings_spec.lua" },
  },
  {
    name = "closing the UMEM's first socket returns its fill frames while the kernel may still write them",
    file = "csrc/umem.c",
    from = "keep_fill = p == &um->pairs[0] && !p->prog_loaded && first_still_bound(um);",
    to = "keep_fill = p == &um->pairs[0] && !p->prog_loaded && !first_still_bound(um);",
    specs = { "spec/model_spec.lua" },
  },

  -- ---- bpf/xsk_steer.c ----
  {
    name = "xsk_steer ignores a rule's action (every match is redirected)",
    file = "bpf/xsk_steer.c",
    from = "\t\tif (r->action == LXSK_ACT_PASS)\n\t\t\treturn XDP_PASS;\n"
      .. "\t\tif (r->action == LXSK_ACT_DROP)\n\t\t\treturn XDP_DROP;\n",
    to = "",
    specs = { "spec/steer_spec.lua" },
  },
}
