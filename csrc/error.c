/* The last error of this thread, as a message for Lua, and libxdp's chatter. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "error.h"
#include "lxsk.h"

static _Thread_local char errbuf[512];
static _Thread_local int errnum;
/* libxdp explains failures (e.g. why a program would not attach) only through
 * its print callback; keep its last warning so our message can carry it. */
static _Thread_local char libxdp_msg[256];

static bool debug_on(void)
{
	const char *v = getenv("LXSK_DEBUG");

	return v && *v && *v != '0';
}

const char *lxsk_errmsg(void)
{
	return errbuf;
}

int lxsk_errno(void)
{
	return errnum;
}

int lxsk_fail(int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	n = vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (err && (size_t)n < sizeof(errbuf))
		snprintf(errbuf + n, sizeof(errbuf) - (size_t)n, " (errno %d: %s)", err, strerror(err));
	errnum = err;
	return err ? -err : -EINVAL;
}

const char *lxsk_libxdp_last(void)
{
	return libxdp_msg;
}

static void keep_warning(const char *fmt, va_list ap)
{
	size_t n;

	vsnprintf(libxdp_msg, sizeof(libxdp_msg), fmt, ap);
	n = strlen(libxdp_msg);
	while (n && libxdp_msg[n - 1] == '\n')
		libxdp_msg[--n] = '\0';
	if (debug_on())
		fprintf(stderr, "libxdp: %s\n", libxdp_msg);
}

static int on_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBXDP_WARN)
		keep_warning(fmt, ap);
	else if (debug_on())
		vfprintf(stderr, fmt, ap);
	return 0;
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		keep_warning(fmt, ap);
	else if (debug_on())
		vfprintf(stderr, fmt, ap);
	return 0;
}

/* The warnings libxdp prints on this kernel (dispatcher refused, falling back to
 * a single program) are expected; they are kept for error messages and shown
 * with LXSK_DEBUG=1 instead of cluttering every run. */
void lxsk_libxdp_quiet(void)
{
	libxdp_msg[0] = '\0';
	libxdp_set_print(on_libxdp_print);
	libbpf_set_print(on_libbpf_print);
}
