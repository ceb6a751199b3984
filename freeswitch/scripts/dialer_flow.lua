--[[
The dialer's call flow after answer (DESIGN §7), run by the `dialer_flow` extension
(freeswitch/dialplan/dialer_flow.xml) on the originated A leg.

Why Lua and not dialplan XML alone: XML conditions are evaluated when the dialplan is hunted,
before `amd` or `play_and_get_digits` have run, so every branch on their result would need a
`transfer` into another extension; the replay loop needs a round counter, the per-digit action
needs a nested lookup (dialer_ivr_action_<digit>), and the rest of max_duration after a
handoff needs arithmetic. Here each of those is one line, in the same order as
dialer/simulator/flow.py, which implements the same flow for the simulator.

Every variable read is a name of dialer/flow/contract.py; DEFAULTS below are that module's
DEFAULTS (tests/freeswitch checks both). The script never hangs up itself: it returns and the
extension's next action (`hangup NORMAL_CLEARING`) runs. That matters for the queue: the
`callcenter` application returns as soon as mod_callcenter bridges the agent (uuid_bridge), and
the dialplan's next action runs only after that bridge ends (captures 02, 02b), whereas another
application executed from here would run at once and cut the agent off.

Answering-machine detection (dialer_amd) has two methods, reported as `amd_method` on
`dialer::amd` with `amd_ms`, the detection time in ms (mod_amd sets only amd_result and
amd_cause, captures 10a-10d, so the time is measured here around the application):
  * `amd`: mod_amd (third-party) where `module_exists mod_amd` says true. MACHINE is decided
    seconds before the greeting ends, so voicemail waits for the beep with avmd first.
  * `avmd`: without mod_amd, mod_avmd alone listens for a beep for dialer_avmd_window_ms:
    a beep is MACHINE/BEEP (the beep is over, a voicemail message plays at once), none is
    NOTSURE/NO_BEEP, which the dialer counts as a human (unknown_assumed_human).
  Neither module loaded: NOTSURE/NOT_INSTALLED, method `none`.

Re-entry: dialer_entry=queue (set with uuid_setvar before `uuid_transfer <uuid> dialer_flow XML
default`, e.g. by an AI agent's transfer_to_human) skips answer, AMD and IVR and goes straight
to the queue handoff (dialer_handoff_target, dialer_queue_max_wait), raising dialer::handoff
with handoff_reason=transfer. The entry is one-shot: the script clears it.
]]

local BEEP_WAIT_MS = 30000 -- a machine without a beep: the message goes after this long
local POLL_MS = 100

local DEFAULTS = {
  ["dialer_entry"] = "",
  ["dialer_amd"] = "true",
  ["dialer_amd_args"] = "",
  ["dialer_avmd_window_ms"] = "5000",
  ["dialer_amd_on_machine"] = "hangup",
  ["dialer_voicemail_message"] = "",
  ["dialer_message"] = "",
  ["dialer_ivr"] = "true",
  ["dialer_ivr_prompt"] = "tone_stream://%(1000,500,440);loops=2",
  ["dialer_ivr_digits"] = "1",
  ["dialer_ivr_tries"] = "3",
  ["dialer_ivr_timeout_ms"] = "4000",
  ["dialer_ivr_invalid_message"] = "silence_stream://250",
  ["dialer_opt_out_message"] = "",
  ["dialer_handoff_type"] = "queue",
  ["dialer_handoff_target"] = "dialer_q@default",
  ["dialer_queue_max_wait"] = "30",
  ["dialer_handoff_headers"] = "",
  ["dialer_handoff_codec"] = "PCMU",
  ["dialer_recording"] = "false",
  ["dialer_recording_path"] = "",
  ["dialer_max_duration"] = "",
  ["dialer_flow_timeout"] = "",
}

local HANDOFF_ACTIONS = { queue = true, extension = true, ai_agent = true }
local api = freeswitch.API()

-- wall-clock ms (the switch's clock: API:getTime), for the AMD decision time
local function now_ms()
  return tonumber(api:getTime()) or os.time() * 1000
end

local function installed(module)
  return api:execute("module_exists", module) == "true"
end

-- the channel's value, else `default`, else the contract's default
local function var(name, default)
  local value = session:getVariable(name)
  if value ~= nil and value ~= "" then
    return value
  end
  if default ~= nil then
    return default
  end
  return DEFAULTS[name] or ""
end

-- a sound variable, with the lab tone written tone:<Hz>[:<seconds>] (a campaign cannot
-- carry tone_stream's "%(,;" through the originate) expanded to a tone_stream
local function sound(name)
  local value = var(name)
  local hz, seconds = value:match("^tone:(%d+):?(%d*)$")
  if hz then
    local ms = (tonumber(seconds) or 1) * 1000
    return "tone_stream://%(" .. ms .. ",0," .. hz .. ")"
  end
  return value
end

-- a per-digit variable of the contract, e.g. dialer_ivr_action_1
local function digit_var(prefix, digit)
  return prefix .. digit
end

local function ready()
  return session:ready()
end

-- the `event` application splits its data on every comma, without escaping (capture 11)
local function field(value)
  return (tostring(value or ""):gsub(",", " "))
end

-- CUSTOM event `subclass`: dialer_attempt_id first, then the fields in order; FreeSWITCH adds
-- all channel headers and variables after them
local function custom(subclass, fields)
  local parts = { "Event-Name=CUSTOM", "Event-Subclass=" .. subclass }
  for _, pair in ipairs(fields) do
    parts[#parts + 1] = pair[1] .. "=" .. field(pair[2])
  end
  session:execute("event", table.concat(parts, ","))
end

local attempt = var("dialer_attempt_id", session:getVariable("origination_uuid") or session:get_uuid())
local answered_at = nil

-- avmd until a beep or `window_ms`: true when it beeped, and the ms it listened
local function listen_for_beep(window_ms)
  session:setVariable("avmd_detect", "") -- a detection of an earlier run of the flow
  session:execute("avmd_start")
  local started = now_ms()
  while ready() and session:getVariable("avmd_detect") ~= "TRUE" and now_ms() - started < window_ms do
    session:sleep(POLL_MS)
  end
  local beeped = session:getVariable("avmd_detect") == "TRUE"
  local listened = now_ms() - started
  session:execute("avmd_stop")
  return beeped, listened
end

-- `beeped`: the beep was already heard (avmd-only detection); else wait for it
local function voicemail(beeped)
  if not beeped then
    -- mod_amd decides MACHINE seconds before the greeting ends: speak after the beep
    beeped = listen_for_beep(BEEP_WAIT_MS)
  end
  if not ready() then
    return
  end
  local message = sound("dialer_voicemail_message")
  if message ~= "" then
    session:execute("playback", message)
  end
  custom("dialer::voicemail", {
    { "dialer_attempt_id", attempt },
    { "voicemail_result", message ~= "" and "left" or "nothing_to_leave" },
    { "beep", beeped and "true" or "false" },
  })
end

-- type, target, queue max wait, bridge headers, codec: the digit's own, else the campaign's
local function handoff_vars(digit)
  if digit == nil then
    return var("dialer_handoff_type"), var("dialer_handoff_target"), var("dialer_queue_max_wait"),
      var("dialer_handoff_headers"), var("dialer_handoff_codec")
  end
  return var(digit_var("dialer_ivr_action_", digit), ""),
    var(digit_var("dialer_ivr_target_", digit), var("dialer_handoff_target")),
    var(digit_var("dialer_ivr_max_wait_", digit), var("dialer_queue_max_wait")),
    var(digit_var("dialer_ivr_headers_", digit), ""),
    var(digit_var("dialer_ivr_codec_", digit), var("dialer_handoff_codec"))
end

-- `reason`: ivr (the digit's own action), campaign (the campaign's handoff) or transfer
-- (re-entered at the queue: the first handoff already replaced the flow's cap)
local function handoff(reason, kind, target, max_wait, headers, codec)
  if not HANDOFF_ACTIONS[kind] or not ready() then
    return
  end
  custom("dialer::handoff", {
    { "dialer_attempt_id", attempt },
    { "handoff_type", kind },
    { "handoff_target", target },
    { "handoff_reason", reason },
  })
  if var("dialer_flow_timeout") ~= "" and reason ~= "transfer" then
    -- the flow's cap ends here; what is left of the call's max duration still holds
    session:execute("sched_cancel")
    local limit = tonumber(var("dialer_max_duration"))
    if limit and answered_at then
      local left = math.floor(limit - (os.time() - answered_at))
      session:execute("sched_hangup", "+" .. math.max(1, left) .. " ALLOTTED_TIMEOUT")
    end
  end
  if kind == "queue" then
    -- the agent leg carries our ids (the member's caller id is flipped, pitfall 5); the wait
    -- limit is the queue's max-wait-time (callcenter.conf.xml): mod_callcenter 1.10 has no
    -- per-member one, so max_wait is only reported by the campaign
    session:setVariable("cc_export_vars", "dialer_attempt_id,dialer_campaign_id,dialer_recipient_id")
    session:execute("callcenter", target)
    return -- nothing after callcenter: see the header
  end
  if kind == "ai_agent" then
    -- codecs on every bridge: a loopback A leg offers only L16 otherwise (capture 17x)
    local block = "absolute_codec_string=" .. codec
    if headers ~= "" then
      block = block .. "," .. headers
    end
    session:execute("bridge", "{" .. block .. "}" .. target)
    return
  end
  session:execute("transfer", target) -- "<extension> XML <context>"
end

local function ivr()
  -- one play_and_get_digits try per round: every try is counted, and a failed one says
  -- whether it timed out or got a key the menu refuses (ivr_digit_invalid, which
  -- switch_play_and_get_digits clears first and sets to the refused input)
  local digits = var("dialer_ivr_digits")
  local tries = var("dialer_ivr_tries")
  local rounds = tries:match("^%d+$") and tonumber(tries) or 3
  for round = 1, math.max(1, rounds) do
    if not ready() then
      return
    end
    local args = table.concat({
      "1", "1", "1", var("dialer_ivr_timeout_ms"), "#",
      sound("dialer_ivr_prompt"), sound("dialer_ivr_invalid_message"),
      "ivr_digit", "[" .. digits .. "]", "3000",
    }, " ")
    -- a failed read keeps the previous round's digit: clear it first
    session:setVariable("ivr_digit", "")
    session:execute("play_and_get_digits", args)
    local digit = session:getVariable("ivr_digit") or ""
    -- DTMF keys only (0-9 * # A-D): nothing the event application would split on
    local invalid = (session:getVariable("ivr_digit_invalid") or ""):gsub("[^%w%*#]", "")
    custom("dialer::ivr", {
      { "dialer_attempt_id", attempt },
      { "ivr_digit", digit },
      { "read_result", session:getVariable("read_result") or "" },
      { "ivr_invalid", invalid },
      { "ivr_try", tostring(round) },
    })
    if not ready() then
      return
    end
    if digit ~= "" then
      local action = var(digit_var("dialer_ivr_action_", digit), "")
      if action == "opt_out" then
        custom("dialer::opt_out", { { "dialer_attempt_id", attempt }, { "ivr_digit", digit } })
        local message = sound("dialer_opt_out_message")
        if message ~= "" then
          session:execute("playback", message)
        end
        return
      end
      if action == "" then
        -- a valid digit without its own action goes to the campaign's handoff
        handoff("campaign", handoff_vars(nil))
        return
      end
      if HANDOFF_ACTIONS[action] then
        handoff("ivr", handoff_vars(digit))
        return
      end
      if action ~= "replay" then
        return -- an action this flow does not know
      end
    end
  end
end

local function run()
  session:execute("answer")
  answered_at = os.time()
  -- the flow's safety cap until a handoff, or the call's max duration if shorter
  local cap = nil
  for _, name in ipairs({ "dialer_max_duration", "dialer_flow_timeout" }) do
    local value = tonumber(var(name))
    if value and (cap == nil or value < cap) then
      cap = value
    end
  end
  if cap then
    session:execute("sched_hangup", "+" .. math.floor(cap) .. " ALLOTTED_TIMEOUT")
  end
  if var("dialer_recording") == "true" then
    local path = var("dialer_recording_path")
    if path == "" then
      path = "dialer/" .. attempt .. ".wav"
    end
    -- ${recordings_dir} is the node's global variable, expanded by execute
    session:execute("record_session", "${recordings_dir}/" .. path)
  end
  if var("dialer_amd") ~= "false" then
    local result, cause, method, taken
    if installed("mod_amd") then
      local started = now_ms()
      session:execute("amd", var("dialer_amd_args"))
      taken = now_ms() - started
      method = "amd"
      result = session:getVariable("amd_result") or ""
      cause = session:getVariable("amd_cause") or ""
    elseif installed("mod_avmd") then
      -- an unknown application would hang the call up: avmd alone listens for a beep
      local window = tonumber(var("dialer_avmd_window_ms")) or tonumber(DEFAULTS["dialer_avmd_window_ms"])
      local beeped
      beeped, taken = listen_for_beep(window)
      method = "avmd"
      result = beeped and "MACHINE" or "NOTSURE"
      cause = beeped and "BEEP" or "NO_BEEP"
      session:setVariable("amd_result", result)
      session:setVariable("amd_cause", cause)
    else
      result, cause, method, taken = "NOTSURE", "NOT_INSTALLED", "none", 0
    end
    if not ready() then
      return -- gone mid-analysis: mod_amd set nothing; the hangup tells the rest
    end
    custom("dialer::amd", {
      { "dialer_attempt_id", attempt },
      { "amd_result", result },
      { "amd_cause", cause },
      { "amd_ms", math.floor(taken) },
      { "amd_method", method },
    })
    if result == "MACHINE" then -- NOTSURE or unset: a human
      if var("dialer_amd_on_machine") == "voicemail" then
        voicemail(method == "avmd")
      end
      return
    end
  end
  if not ready() then
    return
  end
  if var("dialer_ivr") == "false" then
    local message = sound("dialer_message")
    if message ~= "" then
      session:execute("playback", message)
    end
    handoff("campaign", handoff_vars(nil))
    return
  end
  ivr()
end

-- re-entered by uuid_transfer with dialer_entry=queue: the call is answered and analysed
local function enqueue()
  session:setVariable("dialer_entry", "") -- one-shot: a plain transfer runs the whole flow
  handoff("transfer", "queue", var("dialer_handoff_target"), var("dialer_queue_max_wait"), "", "")
end

if var("dialer_entry") == "queue" then
  enqueue()
else
  run()
end
