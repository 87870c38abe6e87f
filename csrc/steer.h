/* The steering rules of a program built from bpf/xsk_steer.c: the user-space
 * half of that program (steer.c).  The layouts are in steer_abi.h, which the
 * BPF program shares; the FFI section is the FFI's declaration too.
 */
#ifndef LXSK_STEER_H
#define LXSK_STEER_H

#include <stdint.h>

#include "prog.h"
#include "steer_abi.h"

/* FFI: begin */
/* Each fails with ENOENT (no map 'xsk_steer_rules') on a program that is not
 * a steering program.  Ids are 0..LXSK_RULES_MAX-1; the counters also take
 * LXSK_RULES_MAX, the slot of packets that matched no rule. */
int lxsk_steer_rule_add(struct lxsk_prog *p, const struct lxsk_rule *r); /* returns the id */
int lxsk_steer_rule_set(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *r); /* returns the id */
int lxsk_steer_rule_remove(struct lxsk_prog *p, uint32_t id);
int lxsk_steer_rule_get(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r); /* 1 active, 0 empty */
int lxsk_steer_counters(struct lxsk_prog *p, uint32_t id, struct lxsk_counter *out);
int lxsk_steer_counters_reset(struct lxsk_prog *p, uint32_t id);
/* The RX metadata redirected packets carry: LXSK_META_* bits (meta_abi.h),
 * 0 for none.  set returns the bits before; the plain build stamps only
 * LXSK_META_RX_TIME, the kfunc build (xsk_steer_meta) the rest too. */
int lxsk_steer_meta_set(struct lxsk_prog *p, uint32_t meta);
int lxsk_steer_meta_get(struct lxsk_prog *p);
/* FFI: end */

#endif
