# XDP programs of our own (bpf/*.c), built with clang for the BPF target into
# $(BUILD)/lua/xsk/bpf/, next to core.so, where lua/xsk/prog.lua looks first.
# Each bpf/NAME.c gives NAME.bpf.o; xsk_steer.c is also built with
# -DLXSK_FRAGS as xsk_steer_frags.bpf.o (SEC "xdp.frags") and with
# -DLXSK_META_KFUNCS as xsk_steer_meta.bpf.o (the RX metadata kfuncs).  The
# headers an XDP program of one's own includes for RX metadata (xsk_meta.h,
# meta_abi.h) are copied next to the objects, where a rock installs them too.
BPF_CLANG  ?= clang
BPF_CFLAGS ?= -O2 -g -Wall -Werror
BPF_ARCH_INC := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_INC    := $(if $(BPF_ARCH_INC),-I/usr/include/$(BPF_ARCH_INC))
BPF_DIR    := $(BUILD)/lua/xsk/bpf

BPF_SRC  := $(sort $(wildcard bpf/*.c))
BPF_OBJS := $(BPF_SRC:bpf/%.c=$(BPF_DIR)/%.bpf.o) $(BPF_DIR)/xsk_steer_frags.bpf.o $(BPF_DIR)/xsk_steer_meta.bpf.o
BPF_HDRS := $(BPF_DIR)/xsk_meta.h $(BPF_DIR)/meta_abi.h
BPF_DEPS := csrc/steer_abi.h csrc/meta_abi.h bpf/xsk_meta.h

.PHONY: bpf-objs
all: bpf-objs
bpf-objs: $(BPF_OBJS) $(BPF_HDRS)

$(BPF_DIR):
	mkdir -p $@

$(BPF_DIR)/%.bpf.o: bpf/%.c $(BPF_DEPS) | $(BPF_DIR)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf $(BPF_INC) -Icsrc -c -o $@ $<

$(BPF_DIR)/xsk_steer_frags.bpf.o: bpf/xsk_steer.c $(BPF_DEPS) | $(BPF_DIR)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf $(BPF_INC) -Icsrc -DLXSK_FRAGS -c -o $@ $<

$(BPF_DIR)/xsk_steer_meta.bpf.o: bpf/xsk_steer.c $(BPF_DEPS) | $(BPF_DIR)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf $(BPF_INC) -Icsrc -DLXSK_META_KFUNCS -c -o $@ $<

$(BPF_DIR)/xsk_meta.h: bpf/xsk_meta.h | $(BPF_DIR)
	cp $< $@

$(BPF_DIR)/meta_abi.h: csrc/meta_abi.h | $(BPF_DIR)
	cp $< $@
