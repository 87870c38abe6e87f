-- luacheck (Debian: lua-check), run by `make lint` and CI.
std = "luajit"
max_line_length = 120
-- `self` unused in a method is the method's shape, not a mistake.
self = false

files["spec"] = { std = "+busted" }
