# Reliability: the ownership model at length, sanitizers, valgrind, fuzzing, soak.
#
#   make stress     10 million random operations against the ownership model
#   make asan       the core under AddressSanitizer + UBSan, whole spec suite
#   make valgrind   the core specs under valgrind (definite leaks are errors);
#                   XSK_SLOW=1 gives the workers' specs longer waits, less work
#   make tsan       the workers' specs with the core under ThreadSanitizer
#   make fuzz       libFuzzer targets for csrc/checksum.c, then the Lua fuzzers
#   make soak       SOAK_PACKETS packets through sender -> forwarder -> receiver
#   make mutate     each mutation of tools/mutations.lua, alone, on a scratch
#                   copy: its specs must fail (MUTATIONS="word ..." picks some)
#
# All but fuzz need root (namespaces, AF_XDP).  asan builds its own copy of
# the core in build/asan (ASAN_BUILD) and leaves the development build alone;
# ASAN_SPECS picks specs (default: all of them).

STRESS_OPS   ?= 10000000
SOAK_PACKETS ?= 100000000
FUZZ_TIME    ?= 20
LUA_FUZZ_ITERS ?= 200000

ASAN_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_LIB      := $(shell $(CC) -print-file-name=libasan.so)
# LuaJIT's allocator and the kernel's rings are not ASan's business; leaks in
# the Lua process are valgrind's job (it can tell LuaJIT's from ours).
#
# Only LuaJIT, which loads the ASan-built core, gets ASan preloaded: a luajit
# first on PATH (mk/sanitized-luajit) that preloads it for itself and not for
# the programs it starts (ip, tshark and tcpdump start without it).
ASAN_BUILD    ?= $(BUILD)/asan
ASAN_SPECS    ?=
ASAN_BIN      := $(abspath $(ASAN_BUILD))/bin
ASAN_ENV      := PATH=$(ASAN_BIN):$$PATH LXSK_SANITIZER=asan \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Specs of the C core (socket-level); others are Lua batteries.
CORE_SPECS   ?= spec/umem_spec.lua spec/socket_spec.lua spec/batch_spec.lua spec/rings_spec.lua \
	spec/lifecycle_spec.lua spec/model_spec.lua spec/faults_spec.lua \
	spec/workers_spec.lua spec/channel_spec.lua spec/counters_spec.lua spec/queues_spec.lua
# --fair-sched=yes: valgrind runs one thread at a time, and with its default
# lock a thread that spins on a channel (channel_spec's workers) can keep
# the lock for good and starve the thread it waits for (a 900 s hang in CI).
VALGRIND     ?= valgrind --fair-sched=yes --error-exitcode=1 --errors-for-leak-kinds=definite --leak-check=full \
	--show-leak-kinds=definite --suppressions=mk/valgrind.supp --num-callers=30 --child-silent-after-fork=yes
# busted re-runs itself under luajit; --ignore-lua makes it run in this process.
BUSTED_HERE  := luajit /usr/bin/busted --ignore-lua -o plainTerminal

# ThreadSanitizer: the core built with -fsanitize=thread in build/tsan, libtsan
# preloaded (as ASan above) into every luajit (LuaJIT's own code is not
# instrumented; every access the core makes is).  Any report ends the run with
# status 66.
TSAN_BUILD   ?= $(BUILD)/tsan
TSAN_SPECS   ?= spec/workers_spec.lua spec/channel_spec.lua spec/counters_spec.lua spec/queues_spec.lua
TSAN_LIB     := $(shell $(CC) -print-file-name=libtsan.so)
TSAN_BIN     := $(abspath $(TSAN_BUILD))/bin
TSAN_ENV     := PATH=$(TSAN_BIN):$$PATH LXSK_SANITIZER=tsan LXSK_BUILD=$(TSAN_BUILD) \
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0 second_deadlock_stack=1"

FUZZ_CC      ?= clang
FUZZ_FLAGS   ?= -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))

.PHONY: stress asan valgrind tsan fuzz fuzz-c fuzz-lua soak mutate

stress: all
	LXSK_BUILD=$(BUILD) luajit tools/stress.lua $(STRESS_OPS)

asan:
	$(MAKE) BUILD=$(ASAN_BUILD) SANFLAGS="$(ASAN_SANFLAGS)" all bench-bin
	mk/sanitized-luajit $(ASAN_LIB) $(ASAN_BIN)
	$(ASAN_ENV) LXSK_BUILD=$(ASAN_BUILD) ./spec/run $(ASAN_SPECS)

tsan:
	$(MAKE) BUILD=$(TSAN_BUILD) SANFLAGS="-fsanitize=thread -fno-omit-frame-pointer" all
	mk/sanitized-luajit $(TSAN_LIB) $(TSAN_BIN)
	$(TSAN_ENV) luajit /usr/bin/busted --ignore-lua -o plainTerminal $(TSAN_SPECS)

valgrind: all bench-bin
	LXSK_BUILD=$(BUILD) XSK_MODEL_OPS=$${XSK_MODEL_OPS:-3000} XSK_SLOW=1 $(VALGRIND) $(BUSTED_HERE) $(CORE_SPECS)

$(BUILD)/fuzz:
	mkdir -p $@

$(BUILD)/fuzz/%: fuzz/%.c csrc/checksum.c csrc/checksum.h | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icsrc -o $@ $< csrc/checksum.c

fuzz: fuzz-c fuzz-lua

fuzz-c: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		name=$${t#$(BUILD)/fuzz/}; mkdir -p $(BUILD)/fuzz/$$name.new; \
		echo "fuzz: $$name for $(FUZZ_TIME)s"; \
		if ! $$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -timeout=10 \
			-artifact_prefix=$(BUILD)/fuzz/$$name- $(BUILD)/fuzz/$$name.new fuzz/corpus/$$name \
			> $(BUILD)/fuzz/$$name.log 2>&1; then \
			tail -n 60 $(BUILD)/fuzz/$$name.log; echo "fuzz: $$name FAILED ($(BUILD)/fuzz/$$name.log)"; exit 1; \
		fi; \
		grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb' $(BUILD)/fuzz/$$name.log; \
	done

fuzz-lua: all
	LXSK_BUILD=$(BUILD) luajit tools/fuzz_lua.lua $(LUA_FUZZ_ITERS)

soak: all
	LXSK_BUILD=$(BUILD) luajit tools/soak.lua $(SOAK_PACKETS)

# Copies the checkout and builds the copy itself; the checkout is only read.
MUTATIONS ?=
mutate:
	luajit tools/mutate.lua $(MUTATIONS)
