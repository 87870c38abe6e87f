-- Shared by the specs: find the in-tree modules and the core built for this
-- run ($LXSK_BUILD, build/ unless set; make asan sets build/asan).
local build = os.getenv("LXSK_BUILD") or "build"
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = build .. "/lua/?.so;" .. package.cpath

return { build = build }
