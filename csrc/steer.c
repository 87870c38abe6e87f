/* The steering rules of bpf/xsk_steer.c, edited from user space.
 *
 * The program scans rule slots 0..nrules-1 (nrules from its config map) and
 * the first active rule that matches decides.  Every edit keeps what the
 * program may see at any moment consistent: a slot becomes visible (nrules
 * grows) only after its rule and fresh counters are written, and the scanned
 * range shrinks before the last rule's slot is cleared.  Rules are checked
 * and normalised here (masks, masked addresses) so the program compares
 * without further work.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "error.h"
#include "lxsk.h"
#include "steer.h"

#define KNOWN_MATCH                                                                                    \
	(LXSK_RULE_ACTIVE | LXSK_RULE_ETHERTYPE | LXSK_RULE_VLAN | LXSK_RULE_PROTO | LXSK_RULE_SRC4 |  \
	 LXSK_RULE_DST4 | LXSK_RULE_SRC6 | LXSK_RULE_DST6 | LXSK_RULE_DPORT)

/* The program's three maps, looked up by name on each edit: edits are rare,
 * and the loader keeps no state of ours. */
struct steer {
	struct lxsk_prog *p;
	int rules, cfg, cnt;
};

static int steer_of(struct lxsk_prog *p, struct steer *s)
{
	s->p = p;
	s->rules = lxsk_prog_map_fd(p, LXSK_STEER_RULES_MAP);
	if (s->rules < 0)
		return s->rules;
	s->cfg = lxsk_prog_map_fd(p, LXSK_STEER_CFG_MAP);
	if (s->cfg < 0)
		return s->cfg;
	s->cnt = lxsk_prog_map_fd(p, LXSK_STEER_CNT_MAP);
	return s->cnt < 0 ? s->cnt : 0;
}

static int check_id(uint32_t id, uint32_t max)
{
	if (id > max)
		return lxsk_fail(EINVAL, "rule id %u is out of range 0-%u", id, max);
	return 0;
}

/* ---- rules ---- */

static void prefix_mask(uint32_t mask[4], unsigned len)
{
	for (unsigned i = 0; i < 4; i++) {
		unsigned bits = len > 32 * i ? len - 32 * i : 0;

		if (bits > 32)
			bits = 32;
		mask[i] = bits ? htonl(bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits)) : 0;
	}
}

static int check_rule(const struct lxsk_rule *r)
{
	uint32_t m = r->match;

	if (m & ~(uint32_t)KNOWN_MATCH)
		return lxsk_fail(EINVAL, "rule: unknown match bits 0x%x", m & ~(uint32_t)KNOWN_MATCH);
	if ((m & LXSK_RULE_SRC4) && (m & LXSK_RULE_SRC6))
		return lxsk_fail(EINVAL, "rule: source is both IPv4 and IPv6");
	if ((m & LXSK_RULE_DST4) && (m & LXSK_RULE_DST6))
		return lxsk_fail(EINVAL, "rule: destination is both IPv4 and IPv6");
	if ((m & (LXSK_RULE_SRC4 | LXSK_RULE_DST4)) && (m & (LXSK_RULE_SRC6 | LXSK_RULE_DST6)))
		return lxsk_fail(EINVAL, "rule: mixes IPv4 and IPv6 addresses");
	if ((m & LXSK_RULE_VLAN) && r->vlan > 4095)
		return lxsk_fail(EINVAL, "rule: VLAN id %u is out of range 0-4095", r->vlan);
	if ((m & LXSK_RULE_DPORT) && r->dport_lo > r->dport_hi)
		return lxsk_fail(EINVAL, "rule: port range %u-%u is empty", r->dport_lo, r->dport_hi);
	if (r->action > LXSK_ACT_DROP)
		return lxsk_fail(EINVAL, "rule: unknown action %u", r->action);
	if (r->src_len > ((m & LXSK_RULE_SRC4) ? 32 : 128) || r->dst_len > ((m & LXSK_RULE_DST4) ? 32 : 128))
		return lxsk_fail(EINVAL, "rule: prefix length %u/%u is too long", r->src_len, r->dst_len);
	return 0;
}

/* Fills in what the program relies on: masks, masked addresses, zeroes in
 * the fields not matched, the ACTIVE bit. */
static void normalize(struct lxsk_rule *r)
{
	uint32_t m = r->match;

	if (!(m & (LXSK_RULE_SRC4 | LXSK_RULE_SRC6)))
		r->src_len = 0;
	if (!(m & (LXSK_RULE_DST4 | LXSK_RULE_DST6)))
		r->dst_len = 0;
	prefix_mask(r->src_mask, r->src_len);
	prefix_mask(r->dst_mask, r->dst_len);
	for (unsigned i = 0; i < 4; i++) {
		r->src[i] &= r->src_mask[i];
		r->dst[i] &= r->dst_mask[i];
	}
	if (!(m & LXSK_RULE_ETHERTYPE))
		r->ethertype = 0;
	if (!(m & LXSK_RULE_VLAN))
		r->vlan = 0;
	if (!(m & LXSK_RULE_PROTO))
		r->proto = 0;
	if (!(m & LXSK_RULE_DPORT))
		r->dport_lo = r->dport_hi = 0;
	r->match = m | LXSK_RULE_ACTIVE;
}

/* ---- the maps ---- */

static int read_cfg(const struct steer *s, struct lxsk_steer_cfg *cfg)
{
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(s->cfg, &zero, cfg))
		return lxsk_fail(errno, "cannot read %s of %s on %s", LXSK_STEER_CFG_MAP, lxsk_prog_name(s->p),
				 lxsk_prog_ifname(s->p));
	if (cfg->nrules > LXSK_RULES_MAX)
		cfg->nrules = LXSK_RULES_MAX;
	return 0;
}

static int write_cfg(const struct steer *s, const struct lxsk_steer_cfg *cfg)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(s->cfg, &zero, cfg, BPF_ANY))
		return lxsk_fail(errno, "cannot write %s of %s on %s", LXSK_STEER_CFG_MAP, lxsk_prog_name(s->p),
				 lxsk_prog_ifname(s->p));
	return 0;
}

/* 1 when the slot holds a rule, 0 when it is empty. */
static int read_rule(const struct steer *s, uint32_t id, struct lxsk_rule *r)
{
	if (bpf_map_lookup_elem(s->rules, &id, r))
		return lxsk_fail(errno, "cannot read rule %u from %s of %s on %s", id, LXSK_STEER_RULES_MAP,
				 lxsk_prog_name(s->p), lxsk_prog_ifname(s->p));
	return (r->match & LXSK_RULE_ACTIVE) ? 1 : 0;
}

static int write_rule(const struct steer *s, uint32_t id, const struct lxsk_rule *r)
{
	if (bpf_map_update_elem(s->rules, &id, r, BPF_ANY))
		return lxsk_fail(errno, "cannot write rule %u to %s of %s on %s", id, LXSK_STEER_RULES_MAP,
				 lxsk_prog_name(s->p), lxsk_prog_ifname(s->p));
	return 0;
}

/* The per-CPU counters of one slot: read into per (NULL: write zeroes). */
static int counters_io(const struct steer *s, uint32_t id, struct lxsk_counter *sum)
{
	int n = libbpf_num_possible_cpus(), err;
	struct lxsk_counter *per;

	if (n < 1)
		n = 1;
	per = calloc((size_t)n, sizeof(*per));
	if (!per)
		return lxsk_fail(ENOMEM, "counters of rule %u: out of memory", id);
	if (sum)
		err = bpf_map_lookup_elem(s->cnt, &id, per) ? errno : 0;
	else
		err = bpf_map_update_elem(s->cnt, &id, per, BPF_ANY) ? errno : 0;
	for (int i = 0; sum && !err && i < n; i++) {
		sum->packets += per[i].packets;
		sum->bytes += per[i].bytes;
	}
	free(per);
	if (err)
		return lxsk_fail(err, "cannot %s the counters of rule %u in %s of %s on %s", sum ? "read" : "reset",
				 id, LXSK_STEER_CNT_MAP, lxsk_prog_name(s->p), lxsk_prog_ifname(s->p));
	return 0;
}

/* ---- the API ---- */

static int rule_set(const struct steer *s, uint32_t id, const struct lxsk_rule *in)
{
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule r;
	int err;

	if (!in)
		return lxsk_fail(EINVAL, "rule: none given");
	if ((err = check_id(id, LXSK_RULES_MAX - 1)) || (err = check_rule(in)))
		return err;
	r = *in;
	normalize(&r);
	if ((err = read_cfg(s, &cfg)))
		return err;
	/* Fresh counters, then the rule, then make the slot visible. */
	if ((err = counters_io(s, id, NULL)) || (err = write_rule(s, id, &r)))
		return err;
	if (cfg.nrules < id + 1) {
		cfg.nrules = id + 1;
		if ((err = write_cfg(s, &cfg)))
			return err;
	}
	return (int)id;
}

int lxsk_steer_rule_set(struct lxsk_prog *p, uint32_t id, const struct lxsk_rule *in)
{
	struct steer s;
	int err = steer_of(p, &s);

	return err ? err : rule_set(&s, id, in);
}

int lxsk_steer_rule_add(struct lxsk_prog *p, const struct lxsk_rule *in)
{
	struct steer s;
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule cur;
	uint32_t id;
	int err;

	if ((err = steer_of(p, &s)))
		return err;
	if (!in)
		return lxsk_fail(EINVAL, "rule: none given");
	if ((err = check_rule(in)) || (err = read_cfg(&s, &cfg)))
		return err;
	/* Append so that rules keep the order they were added in; reuse a hole
	 * only when the table is full up to the end. */
	id = cfg.nrules;
	if (id >= LXSK_RULES_MAX) {
		for (id = 0; id < LXSK_RULES_MAX; id++) {
			err = read_rule(&s, id, &cur);
			if (err < 0)
				return err;
			if (!err)
				break;
		}
		if (id >= LXSK_RULES_MAX)
			return lxsk_fail(ENOSPC, "no room for another rule on %s (%d rules)", lxsk_prog_ifname(p),
					 LXSK_RULES_MAX);
	}
	return rule_set(&s, id, in);
}

int lxsk_steer_rule_remove(struct lxsk_prog *p, uint32_t id)
{
	struct steer s;
	struct lxsk_steer_cfg cfg;
	struct lxsk_rule r;
	int err;

	if ((err = steer_of(p, &s)) || (err = check_id(id, LXSK_RULES_MAX - 1)))
		return err;
	err = read_rule(&s, id, &r);
	if (err < 0)
		return err;
	if (!err)
		return lxsk_fail(ENOENT, "no rule %u on %s", id, lxsk_prog_ifname(p));
	if ((err = read_cfg(&s, &cfg)))
		return err;
	/* Shrink the scanned range first when this is the last rule, so the
	 * program never looks at a half-cleared slot. */
	if (id + 1 == cfg.nrules) {
		uint32_t n = id;

		while (n > 0 && (err = read_rule(&s, n - 1, &r)) == 0)
			n--;
		if (err < 0)
			return err;
		cfg.nrules = n;
		if ((err = write_cfg(&s, &cfg)))
			return err;
	}
	memset(&r, 0, sizeof(r));
	return write_rule(&s, id, &r);
}

int lxsk_steer_rule_get(struct lxsk_prog *p, uint32_t id, struct lxsk_rule *r)
{
	struct steer s;
	int err;

	if ((err = steer_of(p, &s)) || (err = check_id(id, LXSK_RULES_MAX - 1)))
		return err;
	if (!r)
		return lxsk_fail(EINVAL, "rule %u: nowhere to put it", id);
	return read_rule(&s, id, r);
}

int lxsk_steer_counters(struct lxsk_prog *p, uint32_t id, struct lxsk_counter *out)
{
	struct steer s;
	int err;

	if ((err = steer_of(p, &s)) || (err = check_id(id, LXSK_RULES_MAX)))
		return err;
	if (!out)
		return lxsk_fail(EINVAL, "counters of rule %u: nowhere to put them", id);
	out->packets = out->bytes = 0;
	return counters_io(&s, id, out);
}

int lxsk_steer_meta_get(struct lxsk_prog *p)
{
	struct steer s;
	struct lxsk_steer_cfg cfg;
	int err;

	if ((err = steer_of(p, &s)) || (err = read_cfg(&s, &cfg)))
		return err;
	return (int)cfg.meta;
}

int lxsk_steer_meta_set(struct lxsk_prog *p, uint32_t meta)
{
	struct steer s;
	struct lxsk_steer_cfg cfg;
	uint32_t before;
	int err;

	if ((err = steer_of(p, &s)))
		return err;
	if (meta & ~(uint32_t)(LXSK_META_RX_TIME | LXSK_META_HW_TIME | LXSK_META_HASH | LXSK_META_VLAN))
		return lxsk_fail(EINVAL, "metadata: unknown bits 0x%x", meta);
	if ((err = read_cfg(&s, &cfg)))
		return err;
	before = cfg.meta;
	cfg.meta = meta;
	if ((err = write_cfg(&s, &cfg)))
		return err;
	return (int)before;
}

int lxsk_steer_counters_reset(struct lxsk_prog *p, uint32_t id)
{
	struct steer s;
	int err;

	if ((err = steer_of(p, &s)) || (err = check_id(id, LXSK_RULES_MAX)))
		return err;
	return counters_io(&s, id, NULL);
}
