"""Draft sessions in Redis: the life cycle of functions/drafts/model.py as Lua scripts.

Keys (DESIGN.md rule 1), all of one user in one Redis Cluster slot thanks to the `{userId}` hash tag:
- `draft:session:{<userId>}:<sessionId>`: a hash; meta fields start with `_` (`_state` is open,
  materializing or materialized; `_course` the course reserved or created), each form field is
  `f:<name>` holding its JSON value, so two saves of different fields never overwrite each other;
  once materialized it stays as a tombstone naming the course for the rest of its lifetime;
- `draft:index:{<userId>}`: a sorted set of the user's OPEN session ids scored by expiry (ms), so
  that listing and the per-user limit never scan the keyspace; an entry whose key vanished
  (eviction, a flush) is dropped when met, so it neither counts nor lists;
- `draft:rate:{<userId>}:<minute>`: session creations in the current minute;
- `draft:idem:{<userId>}:<keyHash>`: the first answer of an Idempotency-Key, kept 24 h.

Every write is one script, atomic on the server. Each one:
- refuses to act once its deadline has passed by the server's clock (`TIME`): a call the function
  gave up on (a timeout, answered 503) can never land later when a hung server wakes up;
- with an Idempotency-Key, answers the stored first answer instead of acting again, and stores its
  own answer in the same script, so an applied write and its answer are never separated.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from ..drafts.model import (
    Changes,
    CourseRef,
    CreatesRateLimited,
    Idempotency,
    KeyReused,
    Materializing,
    Refusal,
    Session,
    SessionClosed,
    SessionMissing,
    State,
    Storage,
    Summary,
    TooManySessions,
    VersionMismatch,
    Written,
)
from ..platform.errors import StoreUnavailable
from .redis import Client, redis_errors

if TYPE_CHECKING:
    from redis.commands.core import Script

FIELD = "f:"
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000  # API.md: a repeat within 24 h gets the first answer
DEADLINE_MARGIN_MS = 100  # the deadline falls this much before the client's own timeout
TRUSTED_ROUND_TRIP_MS = 50

# The prologue of every write. ARGV[1]: the deadline by the server's clock (0: none); ARGV[2]: the
# request's fingerprint ('' without an Idempotency-Key); ARGV[3]: how long its answer is kept. The
# last key is the answer's record. Every reply starts with its tag and the server's time (ms).
_PROLOGUE = """
local t = redis.call('TIME')
local srv = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local function reply(r) table.insert(r, 2, srv); return r end
if tonumber(ARGV[1]) > 0 and tonumber(srv) > tonumber(ARGV[1]) then return reply({'late'}) end
local fp, record = ARGV[2], KEYS[#KEYS]
if fp ~= '' then
  local rec = redis.call('GET', record)
  if rec then
    local cut = string.find(rec, '\\n', 1, true)
    if string.sub(rec, 1, cut - 1) ~= fp then return reply({'key_reused'}) end
    return reply({'replay', string.sub(rec, cut + 1)})
  end
end
local function answer(r)
  if fp ~= '' then redis.call('SET', record, fp .. '\\n' .. cjson.encode(r), 'PX', tonumber(ARGV[3])) end
  return reply(r)
end
local function snapshot(tag)
  local r = redis.call('HGETALL', KEYS[1])
  table.insert(r, 1, tag)
  return r
end
local function apply(from, nset)
  local i = from
  for _ = 1, nset do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
  while i <= #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
end
"""

# KEYS: session, index, rate, record. ARGV[4..]: sid, org, now, ttl, max sessions, max per minute, fields...
_CREATE = _PROLOGUE + """
local now, ttl, max = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('PEXPIRE', KEYS[3], 60000) end
if count > tonumber(ARGV[9]) then return reply({'rate_limited', tostring(redis.call('PTTL', KEYS[3]))}) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= max then
  -- Entries whose session vanished (evicted, flushed) do not count: drop them, then count again.
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[4])
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', prefix .. id) == 0 then redis.call('ZREM', KEYS[2], id) end
  end
  if redis.call('ZCARD', KEYS[2]) >= max then return reply({'too_many_sessions'}) end
end
redis.call('HSET', KEYS[1], '_sid', ARGV[4], '_org', ARGV[5], '_created', now, '_updated', now,
           '_expires', now + ttl, '_version', 1, '_state', 'open')
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
return answer(snapshot('session'))
"""

# KEYS: session, index, record. ARGV[4..]: sid, now, ttl, expected version or '', nset, fields..., removed...
_PATCH = _PROLOGUE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return reply({'not_found'}) end
local meta = redis.call('HMGET', KEYS[1], '_state', '_course', '_version')
local state = meta[1] or 'open'
if state ~= 'open' then return answer({'closed', state, meta[2] or ''}) end
local version = tonumber(meta[3])
if ARGV[7] ~= '' and tonumber(ARGV[7]) ~= version then return answer({'version_conflict', tostring(version)}) end
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
apply(9, tonumber(ARGV[8]))
redis.call('HSET', KEYS[1], '_updated', now, '_expires', now + ttl, '_version', version + 1)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
return answer(snapshot('session'))
"""

# KEYS: session, index, record. ARGV[4]: sid.
_DELETE = _PROLOGUE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return reply({'not_found'}) end
local meta = redis.call('HMGET', KEYS[1], '_state', '_course')
local state = meta[1] or 'open'
if state ~= 'open' then return answer({'closed', state, meta[2] or ''}) end
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('DEL', KEYS[1])
return answer({'deleted'})
"""

# Materialize begins (open -> materializing) or is resumed (materializing: a container crashed or
# is still at it; the insert is exactly-once in Postgres). KEYS: session, index, record.
# ARGV[4..]: sid, now, course id to reserve, reason, attempt token, nset, fields..., removed...
# `_doubt` = 1 when an earlier attempt may have inserted the row: that session is never reopened
# unless Postgres was asked and answered that no row exists.
_BEGIN = _PROLOGUE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return reply({'not_found'}) end
local meta = redis.call('HMGET', KEYS[1], '_state', '_course', '_version')
local state, nset = meta[1] or 'open', tonumber(ARGV[9])
if state == 'open' then
  local version = tonumber(meta[3])
  if #ARGV >= 10 then
    apply(10, nset)
    version = version + 1
    redis.call('HSET', KEYS[1], '_updated', ARGV[5])
  end
  redis.call('HSET', KEYS[1], '_state', 'materializing', '_course', ARGV[6], '_reason', ARGV[7],
             '_attempt', ARGV[8], '_doubt', 0, '_version', version)
  redis.call('ZREM', KEYS[2], ARGV[4])
  return reply(snapshot('begin'))
end
-- Materializing or materialized: the form is final; a call that would change it is refused.
local i = 10
for _ = 1, nset do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return answer({'closed', state, meta[2] or ''}) end
  i = i + 2
end
while i <= #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return answer({'closed', state, meta[2] or ''}) end
  i = i + 1
end
if state == 'materializing' then redis.call('HSET', KEYS[1], '_attempt', ARGV[8], '_doubt', 1) end
return reply(snapshot('begin'))
"""

# The row is committed: leave the tombstone (and the answer of the key). KEYS: session, index, record.
# ARGV[4..]: sid, course id, slug, created ('1'/'0').
_FINISH = _PROLOGUE + """
if redis.call('HGET', KEYS[1], '_course') == ARGV[5] then
  redis.call('HSET', KEYS[1], '_state', 'materialized', '_slug', ARGV[6])
  redis.call('HDEL', KEYS[1], '_attempt', '_doubt')
end
redis.call('ZREM', KEYS[2], ARGV[4])
return answer({'materialized', ARGV[5], ARGV[6], ARGV[7]})
"""

# The insert certainly did not happen: editable again. KEYS: session, index.
# ARGV: sid, attempt token, checked ('1': Postgres answered that no row exists).
_REOPEN = """
local meta = redis.call('HMGET', KEYS[1], '_state', '_attempt', '_doubt', '_expires')
if meta[1] ~= 'materializing' or meta[2] ~= ARGV[2] then return 0 end
if ARGV[3] ~= '1' and meta[3] == '1' then return 0 end
redis.call('HSET', KEYS[1], '_state', 'open')
redis.call('HDEL', KEYS[1], '_course', '_reason', '_attempt', '_doubt')
redis.call('ZADD', KEYS[2], tonumber(meta[4]), ARGV[1])
return 1
"""


def session_key(user_id: str, session_id: str) -> str:
    return f"draft:session:{{{user_id}}}:{session_id}"


def index_key(user_id: str) -> str:
    return f"draft:index:{{{user_id}}}"


def rate_key(user_id: str, minute: int) -> str:
    return f"draft:rate:{{{user_id}}}:{minute}"


def record_key(user_id: str, idem: Optional[Idempotency]) -> str:
    # Without a key the script never reads it; it is named all the same, in the user's slot.
    return f"draft:idem:{{{user_id}}}:{idem.key_hash if idem else '-'}"


def _session(flat: list[Any]) -> Session:
    """A hash as HGETALL returns it -> the domain's Session."""
    raw = dict(zip(flat[0::2], flat[1::2], strict=True))
    course = raw.get("_course")
    return Session(
        session_id=uuid.UUID(raw["_sid"]),
        organization_id=uuid.UUID(raw["_org"]) if raw.get("_org") else None,
        storage=Storage.REDIS,
        created_ms=int(raw["_created"]),
        updated_ms=int(raw["_updated"]),
        expires_ms=int(raw["_expires"]),
        version=int(raw["_version"]),
        form={k[len(FIELD):]: json.loads(v) for k, v in raw.items() if k.startswith(FIELD)},
        state=State(raw.get("_state") or "open"),
        course_id=uuid.UUID(course) if course else None,
    )


def _encode(changes: Changes) -> list[Any]:
    """[nset, name, json, name, json, ..., removed names...] as the scripts read them."""
    out: list[Any] = [len(changes.set)]
    for name, value in changes.set.items():
        out += [FIELD + name, json.dumps(value, ensure_ascii=False)]
    return out + [FIELD + name for name in changes.remove]


class ServerClock:
    """The offset of the Redis server's clock from ours, learnt from the time every script returns,
    so that a deadline can be given in the server's time. Lambda's and Redis's clocks are both kept
    by NTP; a difference larger than a round trip is noticed and corrected after one refused call."""

    def __init__(self, wall: Callable[[], float] = time.time):
        self.wall = wall
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(self.wall() * 1000)

    def deadline(self, sent_ms: int, timeout_s: float) -> int:
        return sent_ms + self.offset_ms + int(timeout_s * 1000) - DEADLINE_MARGIN_MS

    def observe(self, sent_ms: int, server_ms: int, *, force: bool = False) -> None:
        """Learn from a reply. Only a quick round trip pins the server's moment down well; a slow
        one (a busy server) could put the estimate off by half of it, so it is ignored."""
        received = self.now_ms()
        if force or received - sent_ms <= TRUSTED_ROUND_TRIP_MS:
            self.offset_ms = server_ms - (sent_ms + received) // 2


class RedisSessionStore:
    """The life cycle's operations on Redis; times are epoch milliseconds given by the caller."""

    storage = Storage.REDIS

    def __init__(self, redis_client: Union[Client, Callable[[], Client]], *, timeout_s: float,
                 clock: Optional[ServerClock] = None):
        # A client, or how to get the process's one: reached on first use, so that a Redis that is
        # down fails the call that needs it, not the building of whatever holds this store.
        self._client = redis_client
        self._timeout_s = timeout_s
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self.clock = clock or ServerClock()

    @property
    def redis(self) -> Client:
        return self._client() if callable(self._client) else self._client

    def _script(self, name: str, source: str) -> Script:
        # redis-py's Script object sends EVALSHA and reloads the script after a server restart.
        found = self._scripts.get(name)
        if found is None:
            with self._lock:
                found = self._scripts[name] = self.redis.register_script(source)
        return found

    def _timeout(self) -> float:
        return self._timeout_s

    def _write(self, name: str, source: str, keys: list[str], args: list[Any], idem: Optional[Idempotency],
               *, deadline: bool = True) -> tuple[list[Any], bool]:
        """Run a write script: (its reply after the tag and the server time, replayed?).

        A reply 'late' means the script ran after its deadline and changed nothing. If the round
        trip was shorter than the gap it reports, our clocks disagree, not the server: learn the
        offset and try once more.
        """
        for attempt in (1, 2):
            sent = self.clock.now_ms()
            head: list[Any] = [self.clock.deadline(sent, self._timeout()) if deadline else 0,
                               idem.fingerprint if idem else "", IDEMPOTENCY_TTL_MS]
            with redis_errors():
                result = self._script(name, source)(keys=keys, args=head + args, client=self.redis)
            tag, server_ms = result[0], int(result[1])
            skewed = tag == "late" and server_ms - head[0] > self.clock.now_ms() - sent
            self.clock.observe(sent, server_ms, force=skewed)
            if tag != "late":
                break
            if attempt == 2 or not skewed:
                raise StoreUnavailable("redis", applied=False, reason="deadline_passed")
        if tag == "key_reused":
            raise KeyReused()
        if tag == "replay":
            return json.loads(result[2]), True
        return [tag, *result[2:]], False

    @staticmethod
    def _refusal(reply: list[Any], replayed: bool) -> Optional[Refusal]:
        tag = reply[0]
        refusal: Optional[Refusal] = None
        if tag == "not_found":
            refusal = SessionMissing()
        elif tag == "closed":
            refusal = SessionClosed(State(reply[1]), uuid.UUID(reply[2]) if reply[2] else None)
        elif tag == "version_conflict":
            refusal = VersionMismatch(int(reply[1]))
        elif tag == "too_many_sessions":
            refusal = TooManySessions()
        elif tag == "rate_limited":
            refusal = CreatesRateLimited(int(reply[1]))
        if refusal is not None:
            refusal.replayed = replayed
        return refusal

    def _session_reply(self, reply: list[Any], replayed: bool) -> Written[Session]:
        refusal = self._refusal(reply, replayed)
        if refusal is not None:
            raise refusal
        return Written(_session(reply[1:]), replayed)

    # --- the operations ---

    def create(self, user_id: uuid.UUID, session_id: uuid.UUID, org_id: Optional[uuid.UUID], form: dict[str, Any],
               *, now_ms: int, ttl_ms: int, max_sessions: int, max_per_minute: int,
               idem: Optional[Idempotency] = None) -> Written[Session]:
        u, sid = str(user_id), str(session_id)
        keys = [session_key(u, sid), index_key(u), rate_key(u, now_ms // 60000), record_key(u, idem)]
        args = [sid, str(org_id) if org_id else "", now_ms, ttl_ms, max_sessions, max_per_minute,
                *_encode(Changes(form))[1:]]
        return self._session_reply(*self._write("create", _CREATE, keys, args, idem))

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[Session]:
        with redis_errors():
            flat = self.redis.hgetall(session_key(str(user_id), str(session_id)))
        if not flat or "_sid" not in flat:
            return None
        return _session([x for kv in flat.items() for x in kv])

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, expected_version: Optional[int],
              now_ms: int, ttl_ms: int, idem: Optional[Idempotency] = None) -> Written[Session]:
        u, sid = str(user_id), str(session_id)
        keys = [session_key(u, sid), index_key(u), record_key(u, idem)]
        args = [sid, now_ms, ttl_ms, "" if expected_version is None else expected_version, *_encode(changes)]
        return self._session_reply(*self._write("patch", _PATCH, keys, args, idem))

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, *, idem: Optional[Idempotency] = None) -> Written[None]:
        u, sid = str(user_id), str(session_id)
        reply, replayed = self._write("delete", _DELETE, [session_key(u, sid), index_key(u), record_key(u, idem)],
                                      [sid], idem)
        refusal = self._refusal(reply, replayed)
        if refusal is not None:
            raise refusal
        return Written(None, replayed)

    def begin_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, course_id: uuid.UUID,
                          reason: str, attempt: str, now_ms: int,
                          idem: Optional[Idempotency] = None) -> Written[Materializing]:
        u, sid = str(user_id), str(session_id)
        keys = [session_key(u, sid), index_key(u), record_key(u, idem)]
        args = [sid, now_ms, str(course_id), reason, attempt, *_encode(changes)]
        reply, replayed = self._write("begin", _BEGIN, keys, args, idem)
        if reply[0] == "materialized":  # the stored answer of this key's earlier call
            return Written(self._materialized(session_id, reply), True)
        refusal = self._refusal(reply, replayed)
        if refusal is not None:
            raise refusal
        flat = reply[1:]
        raw = dict(zip(flat[0::2], flat[1::2], strict=True))
        session = _session(flat)
        course = CourseRef(uuid.UUID(raw["_course"]), raw["_slug"], created=False) if raw.get("_slug") else None
        return Written(Materializing(session, uuid.UUID(raw["_course"]), raw.get("_reason") or reason, course))

    @staticmethod
    def _materialized(session_id: uuid.UUID, reply: list[Any]) -> Materializing:
        course = CourseRef(uuid.UUID(reply[1]), reply[2], created=reply[3] == "1")
        return Materializing(session=None, course_id=course.course_id, reason="", course=course)

    def finish_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, course: CourseRef, *,
                           idem: Optional[Idempotency] = None) -> Written[CourseRef]:
        """Leave the tombstone. If the key's answer was stored meanwhile (a retry with the same key
        finished first), that answer is the one given."""
        u, sid = str(user_id), str(session_id)
        keys = [session_key(u, sid), index_key(u), record_key(u, idem)]
        reply, replayed = self._write("finish", _FINISH, keys,
                                      [sid, str(course.course_id), course.slug, "1" if course.created else "0"],
                                      idem, deadline=False)
        return Written(CourseRef(uuid.UUID(reply[1]), reply[2], created=reply[3] == "1"), replayed)

    def reopen(self, user_id: uuid.UUID, session_id: uuid.UUID, *, attempt: str, checked: bool) -> bool:
        """Open again after a failed insert: only this attempt's, and only if no earlier attempt may
        have inserted (unless `checked`: Postgres answered that no row exists)."""
        u, sid = str(user_id), str(session_id)
        with redis_errors():
            done = self._script("reopen", _REOPEN)(keys=[session_key(u, sid), index_key(u)],
                                                   args=[sid, attempt, "1" if checked else "0"], client=self.redis)
        return bool(done)

    def list(self, user_id: uuid.UUID, *, now_ms: int) -> list[Summary]:
        """The user's open sessions, read from the index, never by scanning; index entries whose
        session is gone are dropped on the way."""
        u = str(user_id)
        with redis_errors():
            ids = cast(list[str], self.redis.zrangebyscore(index_key(u), now_ms, "+inf"))  # str: its client decodes
            if not ids:
                return []
            pipe = self.redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hmget(session_key(u, sid), "_sid", "_updated", "_expires", "_state", FIELD + "topic")
            rows = pipe.execute()
            gone = [sid for sid, row in zip(ids, rows, strict=True) if not row[0] or (row[3] or "open") != "open"]
            if gone:
                self.redis.zrem(index_key(u), *gone)
        return [Summary(uuid.UUID(row[0]), json.loads(row[4]) if row[4] else None, int(row[1]), int(row[2]))
                for sid, row in zip(ids, rows, strict=True) if sid not in gone]

    def prune_indexes(self, *, now_ms: int, scan_count: int = 1000) -> dict[str, int]:
        """Drop expired ids from every per-user index; count the live sessions left.

        SCANs over the index keys of every primary (never KEYS); one pipeline per SCAN reply. Used
        by the hourly job and the health check.
        """
        from .redis import scan_pages

        indexes = removed = active = 0
        with redis_errors():
            for keys in scan_pages(self.redis, match="draft:index:{*}", count=scan_count, _type="zset"):
                pipe = self.redis.pipeline(transaction=False)
                for key in keys:
                    pipe.zremrangebyscore(key, "-inf", now_ms)
                    pipe.zcard(key)
                replies = pipe.execute()
                indexes += len(keys)
                removed += sum(replies[0::2])
                active += sum(replies[1::2])
        return {"indexes": indexes, "expiredEntriesRemoved": removed, "activeSessions": active}
