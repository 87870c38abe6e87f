-- Every FFI declaration of lua-xsk, and the handle to the C core.
--
-- The core's declarations come from the FFI sections of its C headers: the
-- build cuts them out (mk/gen-cdefs.awk) and compiles them into the core,
-- which hands them over as `core.cdefs`, so Lua and C always read the same
-- text.  Only libc's functions are declared here.
--
-- `require "xsk.core"` loads the C module with RTLD_LOCAL, so ffi.C cannot see
-- its symbols; the module tells us the file it was loaded from and we open the
-- same file with ffi.load, which gives calls the JIT compiles.
local ffi = require "ffi"
local core = require "xsk.core"

ffi.cdef(core.cdefs)

-- libc, renamed so that user scripts may declare the real names themselves.
ffi.cdef [[
int lxsk_libc_getpid(void) __asm__("getpid");
/* libc, for addresses, pcap files and clocks.  FILE stays void * so other
 * declarations of stdio cannot clash with these. */
int lxsk_libc_inet_pton(int af, const char *src, void *dst) __asm__("inet_pton");
const char *lxsk_libc_inet_ntop(int af, const void *src, char *dst, uint32_t size) __asm__("inet_ntop");
void *lxsk_libc_fopen(const char *path, const char *mode) __asm__("fopen");
size_t lxsk_libc_fread(void *ptr, size_t size, size_t n, void *f) __asm__("fread");
size_t lxsk_libc_fwrite(const void *ptr, size_t size, size_t n, void *f) __asm__("fwrite");
size_t lxsk_libc_fread_unlocked(void *ptr, size_t size, size_t n, void *f) __asm__("fread_unlocked");
size_t lxsk_libc_fwrite_unlocked(const void *ptr, size_t size, size_t n, void *f) __asm__("fwrite_unlocked");
int lxsk_libc_fseek(void *f, long off, int whence) __asm__("fseek");
int lxsk_libc_fflush(void *f) __asm__("fflush");
int lxsk_libc_ferror(void *f) __asm__("ferror");
int lxsk_libc_fclose(void *f) __asm__("fclose");
int lxsk_libc_setvbuf(void *f, char *buf, int mode, size_t size) __asm__("setvbuf");
char *lxsk_libc_strerror(int errnum) __asm__("strerror");
struct lxsk_timespec { long tv_sec; long tv_nsec; };
int lxsk_libc_clock_gettime(int clk, struct lxsk_timespec *ts) __asm__("clock_gettime");
]]

return ffi.load(core.path)
