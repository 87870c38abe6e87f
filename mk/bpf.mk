# XDP programs of our own (bpf/*.c), built with clang for the BPF target into
# $(BUILD)/lua/xsk/bpf/, next to core.so, where lua/xsk/prog.lua looks first.
# Each bpf/NAME.c gives NAME.bpf.o; xsk_steer.c is also built with
# -DLXSK_FRAGS as xsk_steer_frags.bpf.o (SEC "xdp.frags").
BPF_CLANG  ?= clang
BPF_CFLAGS ?= -O2 -g -Wall -Werror
BPF_ARCH_INC := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_INC    := $(if $(BPF_ARCH_INC),-I/usr/include/$(BPF_ARCH_INC))
BPF_DIR    := $(BUILD)/lua/xsk/bpf

BPF_SRC  := $(sort $(wildcard bpf/*.c))
BPF_OBJS := $(BPF_SRC:bpf/%.c=$(BPF_DIR)/%.bpf.o) $(BPF_DIR)/xsk_steer_frags.bpf.o

.PHONY: bpf-objs
all: bpf-objs
bpf-objs: $(BPF_OBJS)

$(BPF_DIR):
	mkdir -p $@

$(BPF_DIR)/%.bpf.o: bpf/%.c csrc/steer_abi.h | $(BPF_DIR)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf $(BPF_INC) -c -o $@ $<

$(BPF_DIR)/xsk_steer_frags.bpf.o: bpf/xsk_steer.c csrc/steer_abi.h | $(BPF_DIR)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf $(BPF_INC) -DLXSK_FRAGS -c -o $@ $<
