"""The Redis lease backend: sorted sets of lease ids scored by expiry, changed by Lua scripts.

Keys, all under ``prefix``:

- ``{prefix}:epoch`` — present while the state is whole; written by ``restore``. A Redis that
  lost its data has no marker, and ``acquire`` says ``lost_state`` until ``restore`` runs.
- ``{prefix}:scope:{scope key}`` — sorted set, member lease id, score expiry.
- ``{prefix}:expiry`` — sorted set of every lease id by expiry, to reap leases whose scopes
  see no more acquires.
- ``{prefix}:lease`` — hash, lease id -> JSON list of its scope keys, so ``release`` and
  ``extend`` need only the id.
- ``{prefix}:bucket:{bucket key}`` — hash of ``tokens`` and ``at``, expiring when idle.

Times travel as the caller's float text and are stored as that text, and computed numbers are
written with ``%.17g``: Lua's own number-to-text (and Redis before 7.0, for command arguments)
keeps 14 significant digits, which rounds an epoch to 0.1 ms and would make Redis and the
memory backend disagree about the same instant.

Scripts touch the scope keys of *other* leases when reaping them, which Redis Cluster would
refuse; the backend targets a single Redis (or a primary with replicas).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from dialer.leases.backend import (
    SLACK_SECONDS,
    Bucket,
    Granted,
    LeaseRequest,
    Rejected,
    Scope,
    check_ttl,
    refill,
    scope_key,
    unique,
)

# How many expired leases of any scope one acquire reaps besides those of its own scopes:
# bounded, so a clock jump over a million leases cannot stall Redis in one script.
SWEEP = 64

# An idle bucket's state outlives the time it takes to refill several times over, and never
# less than a minute of wall time: a frozen or slow test clock must not see a bucket refill
# just because the wall moved on.
_BUCKET_IDLE_REFILLS = 3
_BUCKET_MIN_IDLE_MS = 60_000

_COMMON = """
local prefix = ARGV[1]
local index = prefix .. ':expiry'
local records = prefix .. ':lease'

local function scope_zset(key)
  return prefix .. ':scope:' .. key
end

local function scope_keys(id)
  local record = redis.call('HGET', records, id)
  if not record then
    return {}
  end
  return cjson.decode(record)
end

local function forget(id)
  local keys = scope_keys(id)
  for _, key in ipairs(keys) do
    redis.call('ZREM', scope_zset(key), id)
  end
  redis.call('HDEL', records, id)
  return redis.call('ZREM', index, id)
end

-- Forget a lease only if it really expired: the index is the authority on its expiry.
local function reap(id, now)
  local score = redis.call('ZSCORE', index, id)
  if (not score) or tonumber(score) <= now then
    forget(id)
  end
end

local function set_expiry(id, expires)
  for _, key in ipairs(scope_keys(id)) do
    redis.call('ZADD', scope_zset(key), 'XX', expires, id)
  end
  redis.call('ZADD', index, expires, id)
end

local function add(id, keys, expires)
  for _, key in ipairs(keys) do
    redis.call('ZADD', scope_zset(key), expires, id)
  end
  redis.call('ZADD', index, expires, id)
  -- An empty Lua table encodes as {}; readers take that for no scopes.
  redis.call('HSET', records, id, cjson.encode(keys))
end
"""

# KEYS: marker, scope zsets..., bucket hashes...
# ARGV: prefix, id, now, expires, n_scopes, (limit or "")..., (rate, burst, idle ms)..., wait
# A rejection names the scope or bucket by its position; the caller knows its kind. A grant
# says when its tokens are due (0: now; later: reserved ahead, the bucket below zero).
_ACQUIRE = (
    _COMMON
    + """
local id, now_s, expires = ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(now_s)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'lost_state'}
end

local held = redis.call('ZSCORE', index, id)
if held and tonumber(held) <= now then
  forget(id)
  held = false
end
local n_scopes = tonumber(ARGV[5])
for i = 1, n_scopes do
  local zset = KEYS[1 + i]
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now_s)) do
    reap(member, now)
  end
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', now_s)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now_s, 'LIMIT', 0, SWEEP)) do
  forget(member)
end

if held then
  set_expiry(id, expires)
  return {'granted'}
end

local keys = {}
local zset_prefix = #prefix + #':scope:' + 1
for i = 1, n_scopes do
  keys[i] = string.sub(KEYS[1 + i], zset_prefix)
  local limit = ARGV[5 + i]
  if limit ~= '' and redis.call('ZCARD', KEYS[1 + i]) >= tonumber(limit) then
    return {'limit', i}
  end
end

local n_buckets = #KEYS - 1 - n_scopes
local a = 6 + n_scopes
local wait = tonumber(ARGV[#ARGV])
local delay = 0
local taken = {}
for j = 1, n_buckets do
  local rate, burst = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local state = redis.call('HMGET', KEYS[1 + n_scopes + j], 'tokens', 'at')
  local tokens, at = burst, now_s
  if state[1] then
    local elapsed = math.max(0, now - tonumber(state[2]))
    tokens = math.min(burst, tonumber(state[1]) + elapsed * rate)
    if tonumber(state[2]) > now then
      at = state[2]
    end
  end
  if tokens + rate * (SLACK + wait) < 1 then
    return {'rate', j, string.format('%.17g', (1 - tokens) / rate)}
  end
  local left = math.max(0, tokens - 1)
  if tokens + rate * SLACK < 1 then
    left = tokens - 1
    delay = math.max(delay, (1 - tokens) / rate)
  end
  taken[j] = {left, at, ARGV[a + 2]}
  a = a + 3
end

for j = 1, n_buckets do
  local bucket = KEYS[1 + n_scopes + j]
  redis.call('HSET', bucket, 'tokens', string.format('%.17g', taken[j][1]), 'at', taken[j][2])
  redis.call('PEXPIRE', bucket, taken[j][3])
end
add(id, keys, expires)
return {'granted', string.format('%.17g', delay)}
""".replace("SWEEP", str(SWEEP)).replace("SLACK", repr(SLACK_SECONDS))
)

# ARGV: prefix, id, now, expires
_EXTEND = (
    _COMMON
    + """
local id, now, expires = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local score = redis.call('ZSCORE', index, id)
if not score then
  return 0
end
if tonumber(score) <= now then
  forget(id)
  return 0
end
set_expiry(id, expires)
return 1
"""
)

# ARGV: prefix, id
_RELEASE = (
    _COMMON
    + """
if redis.call('HEXISTS', records, ARGV[2]) == 0 then
  return 0
end
forget(ARGV[2])
-- wake a scheduler waiting in wait_released (a short list: one entry is enough)
local released = ARGV[1] .. ':released'
redis.call('RPUSH', released, 1)
redis.call('LTRIM', released, -16, -1)
redis.call('PEXPIRE', released, 60000)
return 1
"""
)

# One script for the whole restore, so no acquire runs between its first lease and the marker.
# KEYS: marker; ARGV: prefix, now, (id, expires, n, scope key...)...
_RESTORE = (
    _COMMON
    + """
local a, added = 3, 0
while a <= #ARGV do
  local id, expires, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local keys = {}
  for i = 1, n do
    keys[i] = ARGV[a + 2 + i]
  end
  forget(id)
  add(id, keys, expires)
  added = added + 1
  a = a + 3 + n
end
redis.call('SET', KEYS[1], ARGV[2])
return added
"""
)

# ARGV: prefix, now
_LEASES = (
    _COMMON
    + """
local ids = redis.call('ZRANGEBYSCORE', index, '(' .. ARGV[2], '+inf')
local out = {}
for i, id in ipairs(ids) do
  out[2 * i - 1] = id
  out[2 * i] = redis.call('HGET', records, id) or '[]'
end
return out
"""
)


@dataclass(frozen=True)
class _AcquireCall:
    lease_id: str
    expires_at: float
    scopes: Sequence[Scope]
    buckets: Sequence[Bucket]
    keys: list[str]
    args: list[str | int]

    def verdict(self, reply: Any) -> Granted | Rejected:
        """The script's answer; a rejection names the scope or bucket by its position."""
        outcome = _text(reply[0])
        if outcome == "granted":
            delay = float(_text(reply[1])) if len(reply) > 1 else 0.0
            return Granted(self.lease_id, self.expires_at, delay)
        if outcome == "limit":
            return Rejected(self.lease_id, "limit", self.scopes[int(reply[1]) - 1].kind, 0.0)
        if outcome == "rate":
            kind = self.buckets[int(reply[1]) - 1].kind
            return Rejected(self.lease_id, "rate", kind, float(reply[2]))
        return Rejected(self.lease_id, "lost_state", "", 0.0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _float(value: float) -> str:
    # repr is the shortest text that reads back as the same double, in Lua as in Python.
    return repr(float(value))


def _idle_ms(bucket: Bucket) -> int:
    return max(
        _BUCKET_MIN_IDLE_MS, math.ceil(_BUCKET_IDLE_REFILLS * bucket.burst / bucket.rate * 1000)
    )


class RedisLeases:
    def __init__(self, client: redis.Redis, prefix: str = "dialer:leases") -> None:
        self._client = client
        self._prefix = prefix
        self._marker = f"{prefix}:epoch"
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._restore = client.register_script(_RESTORE)
        self._leases = client.register_script(_LEASES)

    @classmethod
    def from_url(cls, url: str, prefix: str = "dialer:leases") -> RedisLeases:
        return cls(redis.Redis.from_url(url), prefix=prefix)

    @property
    def prefix(self) -> str:
        return self._prefix

    def _scope(self, key: str) -> str:
        return f"{self._prefix}:scope:{key}"

    def _bucket(self, key: str) -> str:
        return f"{self._prefix}:bucket:{key}"

    def acquire(
        self,
        lease_id: str,
        scopes: Sequence[Scope],
        ttl: float,
        now: float,
        buckets: Sequence[Bucket] = (),
        wait: float = 0.0,
    ) -> Granted | Rejected:
        request = self._acquire_call(LeaseRequest(lease_id, scopes, ttl, buckets, wait), now)
        return request.verdict(self._acquire(keys=request.keys, args=request.args))

    def acquire_many(
        self, requests: Sequence[LeaseRequest], now: float
    ) -> list[Granted | Rejected]:
        calls = [self._acquire_call(request, now) for request in requests]
        replies = self._many(self._acquire, [(call.keys, call.args) for call in calls])
        return [call.verdict(reply) for call, reply in zip(calls, replies, strict=True)]

    def _acquire_call(self, request: LeaseRequest, now: float) -> _AcquireCall:
        check_ttl(request.ttl)
        scopes, buckets = unique(request.scopes), unique(request.buckets)
        expires_at = now + request.ttl
        keys = [self._marker]
        keys += [self._scope(s.key) for s in scopes]
        keys += [self._bucket(b.key) for b in buckets]
        args: list[str | int] = [self._prefix, request.lease_id, _float(now), _float(expires_at)]
        args.append(len(scopes))
        args += ["" if s.limit is None else s.limit for s in scopes]
        for b in buckets:
            args += [_float(b.rate), _float(b.burst), _idle_ms(b)]
        args.append(_float(max(0.0, request.wait)))
        return _AcquireCall(request.lease_id, expires_at, scopes, buckets, keys, args)

    def _many(self, script: Any, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """EVALSHA each call in one pipelined round trip (not a transaction: every script is
        atomic on its own). A script the server does not have (NOSCRIPT, after a restart) did
        not run: it is loaded and those calls are sent again."""
        if not calls:
            return []
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for _ in range(2):
            pipe = self._client.pipeline(transaction=False)
            for i in todo:
                keys, args = calls[i]
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
            answers = pipe.execute(raise_on_error=False)
            missing = []
            for i, answer in zip(todo, answers, strict=True):
                if isinstance(answer, redis.exceptions.NoScriptError):
                    missing.append(i)
                elif isinstance(answer, Exception):
                    raise answer
                else:
                    replies[i] = answer
            if not missing:
                return replies
            self._client.script_load(script.script)
            todo = missing
        raise redis.exceptions.NoScriptError("lease script could not be loaded")

    def extend(self, lease_id: str, ttl: float, now: float) -> bool:
        check_ttl(ttl)
        args = [self._prefix, lease_id, _float(now), _float(now + ttl)]
        return bool(self._extend(keys=[], args=args))

    def extend_many(self, lease_ids: Sequence[str], ttl: float, now: float) -> int:
        check_ttl(ttl)
        calls: list[tuple[list[str], list[Any]]] = [
            ([], [self._prefix, lease_id, _float(now), _float(now + ttl)]) for lease_id in lease_ids
        ]
        return sum(int(bool(reply)) for reply in self._many(self._extend, calls))

    def release(self, lease_id: str) -> bool:
        return bool(self._release(keys=[], args=[self._prefix, lease_id]))

    def release_many(self, lease_ids: Sequence[str]) -> int:
        calls: list[tuple[list[str], list[Any]]] = [
            ([], [self._prefix, lease_id]) for lease_id in lease_ids
        ]
        return sum(int(bool(reply)) for reply in self._many(self._release, calls))

    def wait_released(self, timeout: float) -> bool:
        key = f"{self._prefix}:released"
        got: object
        if timeout <= 0:
            got = self._client.lpop(key)
        else:
            got = self._client.blpop([key], timeout=max(timeout, 0.001))
        if got:
            self._client.delete(key)  # one wake-up for every release so far
        return bool(got)

    def count(self, scope: Scope | str, now: float) -> int:
        key = self._scope(scope_key(scope))
        return int(self._client.zcount(key, f"({_float(now)}", "+inf"))

    def count_many(self, scopes: Sequence[Scope | str], now: float) -> list[int] | None:
        pipe = self._client.pipeline(transaction=True)  # one instant for every answer
        pipe.exists(self._marker)
        for scope in scopes:
            pipe.zcount(self._scope(scope_key(scope)), f"({_float(now)}", "+inf")
        marker, *counts = pipe.execute()
        return [int(n) for n in counts] if marker else None

    def holders(self, scope: Scope | str, now: float) -> list[str]:
        key = self._scope(scope_key(scope))
        return [_text(m) for m in self._client.zrangebyscore(key, f"({_float(now)}", "+inf")]

    def leases(self, now: float) -> dict[str, list[str]]:
        reply = [_text(part) for part in self._leases(keys=[], args=[self._prefix, _float(now)])]
        out: dict[str, list[str]] = {}
        for lease_id, record in zip(reply[::2], reply[1::2], strict=True):
            keys = json.loads(record)
            out[lease_id] = keys if isinstance(keys, list) else []
        return out

    def free(self, scopes: Sequence[Scope], now: float) -> int | None:
        limited = [(s.key, s.limit) for s in unique(scopes) if s.limit is not None]
        if not limited:
            return None
        pipe = self._client.pipeline(transaction=True)
        for key, _ in limited:
            pipe.zcount(self._scope(key), f"({_float(now)}", "+inf")
        counts = pipe.execute()
        return min(max(0, limit - int(n)) for (_, limit), n in zip(limited, counts, strict=True))

    def tokens(self, bucket: Bucket, now: float) -> float:
        tokens, at = self._client.hmget(self._bucket(bucket.key), ["tokens", "at"])
        if tokens is None or at is None:
            return bucket.burst
        return refill(float(_text(tokens)), float(_text(at)), bucket, now)

    def restore(self, leases: Iterable[tuple[str, Sequence[Scope], float]], now: float) -> int:
        args: list[str | int] = [self._prefix, _float(now)]
        for lease_id, scopes, expires_at in leases:
            if expires_at > now:
                keys = [s.key for s in unique(scopes)]
                args += [lease_id, _float(expires_at), len(keys), *keys]
        return int(self._restore(keys=[self._marker], args=args))

    def reset(self) -> None:
        pattern = _glob_escape(self._prefix) + ":*"
        batch: list[Any] = []
        for key in self._client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
