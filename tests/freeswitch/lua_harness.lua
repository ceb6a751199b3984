--[[
Runs freeswitch/scripts/dialer_flow.lua outside FreeSWITCH against a stand-in `session` and
`freeswitch` table, so the tests can check what the shipped script does, branch by branch.

usage: lua harness.lua <script> <case>, where <case> is a Lua table literal:
  { vars = {name = value, ...}, modules = {"mod_avmd", ...},
    amd = {ms = 1400, result = "HUMAN", cause = "HUMAN"},  -- what mod_amd decides, when
    beep_ms = 3000,             -- ms after answer the beep is heard (avmd), or nil
    digit = "1",                -- what every play_and_get_digits reads, or nil
    keys = "51" }               -- or one key per play_and_get_digits: 5, then 1
Prints one line per application ("APP <name> <data>") and per custom event
("EVENT <subclass> <k>=<v>|<k>=<v>..."), then "VARS <name>=<value>|..." for the dialer's own.
The clock moves only with amd and sleep, in ms.
]]

local script, case_text = arg[1], arg[2]
local case = assert(load("return " .. case_text))()
local vars = case.vars or {}
local now = 1764600000000 -- ms
local answered = nil
local avmd_on = false

local function advance(ms)
  now = now + ms
  if avmd_on and case.beep_ms and answered and now - answered >= case.beep_ms then
    vars["avmd_detect"] = "TRUE"
  end
end

local function emit(line)
  io.write(line, "\n")
end

local Session = {}
Session.__index = Session

function Session:getVariable(name)
  return vars[name]
end

function Session:setVariable(name, value)
  if value == nil or value == "" then
    vars[name] = nil
  else
    vars[name] = value
  end
end

function Session:ready()
  return true
end

function Session:get_uuid()
  return "a-leg-uuid"
end

function Session:sleep(ms)
  advance(ms)
end

function Session:execute(app, data)
  data = data or ""
  if app == "event" then
    local subclass, fields = nil, {}
    for item in (data .. ","):gmatch("([^,]*),") do
      local k, v = item:match("^([^=]*)=(.*)$")
      if k == "Event-Subclass" then
        subclass = v
      elseif k and k ~= "Event-Name" then
        fields[#fields + 1] = k .. "=" .. v
      end
    end
    emit("EVENT " .. tostring(subclass) .. " " .. table.concat(fields, "|"))
    return
  end
  emit("APP " .. app .. " " .. data)
  if app == "answer" then
    answered = now
  elseif app == "amd" then
    advance(case.amd.ms)
    vars["amd_result"] = case.amd.result
    vars["amd_cause"] = case.amd.cause
  elseif app == "avmd_start" then
    avmd_on = true
    advance(0)
  elseif app == "avmd_stop" then
    avmd_on = false
  elseif app == "play_and_get_digits" then
    advance(3000)
    -- as switch_play_and_get_digits: <var>_invalid cleared first, set to a refused key
    vars["ivr_digit_invalid"] = nil
    local key = case.digit
    if case.keys then -- one key per call: "51" is 5, then 1, then nothing
      key = case.keys:sub(1, 1)
      case.keys = case.keys:sub(2)
      if key == "" then
        key = nil
      end
    end
    local words = {}
    for word in data:gmatch("%S+") do
      words[#words + 1] = word
    end
    local class = words[9] or "[0-9]"
    if key and key:match("^" .. class:gsub("%%", "%%%%") .. "$") then
      vars["ivr_digit"] = key
      vars["read_result"] = "success"
    else
      if key then
        vars["ivr_digit_invalid"] = key
      end
      vars["read_result"] = "failure"
    end
  end
end

local API = {}
API.__index = API

function API:execute(command, args)
  if command == "module_exists" then
    for _, name in ipairs(case.modules or {}) do
      if name == args then
        return "true"
      end
    end
    return "false"
  end
  return "-ERR " .. command .. " Command not found!"
end

function API:getTime()
  return tostring(now)
end

freeswitch = {
  API = function()
    return setmetatable({}, API)
  end,
}
session = setmetatable({}, Session)

dofile(script)

local names = {}
for name, value in pairs(vars) do
  if name:match("^dialer_") or name:match("^amd_") then
    names[#names + 1] = name .. "=" .. value
  end
end
table.sort(names)
emit("VARS " .. table.concat(names, "|"))
