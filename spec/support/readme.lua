-- The scripts README.md shows, exactly as written: each ```lua block after a
-- line "<!-- script: NAME -->".  Used by spec/readme_spec.lua (from the
-- checkout) and .ci/rock (after a rock install).
local M = {}

-- { [NAME] = code } of README.md at path (default: the repo's).
function M.scripts(path)
  local f = assert(io.open(path or "README.md", "rb"))
  local text = f:read("*a")
  f:close()
  local t = {}
  for name, code in text:gmatch("<!%-%- script: ([%w_.-]+) %-%->\n```lua\n(.-)\n```") do
    t[name] = code .. "\n"
  end
  return t
end

-- Writes them into dir (a folder users could have saved them in).
function M.write(dir, path)
  local names = {}
  for name, code in pairs(M.scripts(path)) do
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(code)
    f:close()
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

return M
