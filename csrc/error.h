/* Layer 0 of the core: the last error of this thread, as a message for Lua.
 * Every layer above reports failures through lxsk_fail and nothing else. */
#ifndef LXSK_ERROR_H
#define LXSK_ERROR_H

/* Records the message (printf-style) with " (errno N: text)" appended and
 * returns -err (err may be given with either sign; 0 means EINVAL without an
 * errno text). */
int lxsk_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), cold));

/* libxdp and libbpf explain failures only through their print callbacks:
 * keep their last warning for our messages, and stay quiet otherwise
 * (LXSK_DEBUG=1 prints everything). */
void lxsk_libxdp_quiet(void);
const char *lxsk_libxdp_last(void);

#endif
