# bench-core: the core's own cost, on a kernel simulated in the process
# (bench/README.md, "The core's own cost").  The simulator goes into a library
# of its own, build/bench-core/lua/xsk/core.so: the core's objects, unchanged,
# with bench/simkernel.c and bench/bare_loop.c, and FFI declarations cut from
# their headers too.  The release core.so never holds any of it.
BENCH_CORE_DIR := $(BUILD)/bench-core
BENCH_CORE_SO  := $(BENCH_CORE_DIR)/lua/xsk/core.so
BENCH_CORE_HDR := bench/simkernel.h bench/bare_loop.h
BENCH_CORE_OBJ := $(BENCH_CORE_DIR)/obj/simkernel.o $(BENCH_CORE_DIR)/obj/bare_loop.o $(BENCH_CORE_DIR)/obj/cdefs.o

.PHONY: bench-core
bench-bin: $(BENCH_CORE_SO)

$(BENCH_CORE_DIR)/gen/cdefs.c: mk/gen-cdefs.awk $(CDEF_HDR) $(BENCH_CORE_HDR) | $(BENCH_CORE_DIR)/gen
	awk -f mk/gen-cdefs.awk $(CDEF_HDR) $(BENCH_CORE_HDR) > $@.tmp && mv $@.tmp $@

$(BENCH_CORE_DIR)/obj/%.o: bench/%.c $(CORE_HDR) $(BENCH_CORE_HDR) | $(BENCH_CORE_DIR)/obj
	$(CC) $(CFLAGS) $(LXSK_CFLAGS) $(SANFLAGS) -Ibench -c -o $@ $<

$(BENCH_CORE_DIR)/obj/cdefs.o: $(BENCH_CORE_DIR)/gen/cdefs.c $(CORE_HDR) $(BENCH_CORE_HDR) | $(BENCH_CORE_DIR)/obj
	$(CC) $(CFLAGS) $(LXSK_CFLAGS) $(SANFLAGS) -I. -c -o $@ $<

$(BENCH_CORE_DIR)/obj $(BENCH_CORE_DIR)/gen $(BENCH_CORE_DIR)/lua/xsk:
	mkdir -p $@

$(BENCH_CORE_SO): $(filter-out $(BUILD)/obj/cdefs.o,$(CORE_OBJ)) $(BENCH_CORE_OBJ) | $(BENCH_CORE_DIR)/lua/xsk
	$(CC) -shared $(SANFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# QUICK=1: short runs, the whole table in about a minute.  valgrind's
# callgrind counts the instructions (bench/README.md).
bench-core: $(BENCH_CORE_SO)
	EXTRA_DEPS=valgrind ./.ci/deps
	QUICK=$(QUICK) LXSK_BUILD=$(BUILD) ./bench/core-run
