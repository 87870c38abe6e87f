#!/usr/bin/env bash
# `make demo`: sends "Hello, world!" between two AF_XDP sockets over a veth
# pair in a throwaway network namespace (hello_xdp.lua builds and removes it),
# then says what happened.  Needs root; it does not call sudo itself.
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "demo: AF_XDP sockets and network namespaces need root; run: sudo make demo" >&2
	exit 1
fi
if ! command -v luajit >/dev/null; then
	echo "demo: luajit is not installed (sudo make deps)" >&2
	exit 1
fi

# Namespaces the examples make are named xskex<pid>-<n>; note any that are
# here already, so only ones this run leaves behind are reported: new ones
# whose process is gone (others' runs make and remove their own meanwhile).
leftovers() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep '^xskex' | while read -r ns; do
		pid=$(echo "$ns" | sed -E 's/^[a-z]+([0-9]+)-.*/\1/')
		[ -d "/proc/$pid" ] || echo "$ns"
	done | sort
}
before=$(leftovers)

# tools/xsk-luajit runs LuaJIT with this checkout's modules and core.
echo "demo: tools/xsk-luajit examples/hello_xdp.lua"
tools/xsk-luajit examples/hello_xdp.lua
rc=$?

after=$(leftovers)
left=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
if [ -n "$left" ]; then
	echo "demo: namespaces left behind: $left" >&2
	rc=1
fi

if [ "$rc" = 0 ]; then
	echo "demo: one Ethernet frame went from an AF_XDP socket on veth0 to one on veth1 in a throwaway namespace; namespace removed"
else
	echo "demo: FAILED (exit status $rc)" >&2
fi
exit "$rc"
