# bench/: the plain-C baseline and the C-vs-Lua benchmark (see bench/README.md).
BENCH_BIN    := $(BUILD)/xdpsock_c

.PHONY: bench bench-bin
bench-bin: $(BENCH_BIN)

$(BENCH_BIN): bench/xdpsock_c.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $< -lxdp -lbpf

# QUICK=1: short runs, the whole table in under a minute.  BENCH_ONLY=c skips Lua.
# bench/measurements then prints the RX metadata cost, pacing and replay timing.
# perf samples the user CPU time of the programs under test (bench/README.md).
bench: all $(BENCH_BIN)
	EXTRA_DEPS=linux-perf ./.ci/deps
	QUICK=$(QUICK) BENCH_ONLY=$(BENCH_ONLY) LXSK_BUILD=$(BUILD) ./bench/run
	QUICK=$(QUICK) LXSK_BUILD=$(BUILD) ./bench/measurements
