"""Draft sessions in Redis.

Keys (DESIGN.md rule 1), all of one user in one Redis Cluster slot thanks to the `{userId}` hash tag:
- `draft:session:{<userId>}:<sessionId>`: a hash; meta fields start with `_`, each form field is
  `f:<name>` holding its JSON value, so two saves of different fields never overwrite each other;
- `draft:index:{<userId>}`: a sorted set of the user's session ids scored by expiry (ms), so that
  listing and the per-user limit never scan the keyspace;
- `draft:rate:{<userId>}:<minute>`: session creations in the current minute.

Every change is one Lua script, atomic on the server: no read-modify-write race between saves.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..cache import client, redis_errors

FIELD = "f:"

_CREATE = """
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('PEXPIRE', KEYS[3], 60000) end
if count > tonumber(ARGV[6]) then return {'rate_limited', redis.call('PTTL', KEYS[3])} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {'too_many_sessions'} end
redis.call('HSET', KEYS[1], '_sid', ARGV[1], '_org', ARGV[2], '_created', now, '_updated', now,
           '_expires', now + ttl, '_version', 1)
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('HGETALL', KEYS[1])
"""

_PATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
local version = tonumber(redis.call('HGET', KEYS[1], '_version'))
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= version then return {'version_conflict', version} end
local now, ttl, nset = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local i = 6
for _ = 1, nset do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
while i <= #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
redis.call('HSET', KEYS[1], '_updated', now, '_expires', now + ttl, '_version', version + 1)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('HGETALL', KEYS[1])
"""

_DELETE = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""


class StoreOutcome(Exception):
    """A script's refusal (not_found, version_conflict, too_many_sessions, rate_limited)."""

    def __init__(self, kind: str, value: Optional[int] = None):
        super().__init__(kind)
        self.kind = kind
        self.value = value


def session_key(user_id: str, session_id: str) -> str:
    return f"draft:session:{{{user_id}}}:{session_id}"


def index_key(user_id: str) -> str:
    return f"draft:index:{{{user_id}}}"


def rate_key(user_id: str, minute: int) -> str:
    return f"draft:rate:{{{user_id}}}:{minute}"


def _decode(flat: list) -> dict[str, Any]:
    """A hash as the script returns it -> a plain session record."""
    raw = dict(zip(flat[0::2], flat[1::2]))
    return {
        "sessionId": raw["_sid"],
        "organizationId": raw.get("_org") or None,
        "createdAt": int(raw["_created"]),
        "updatedAt": int(raw["_updated"]),
        "expiresAt": int(raw["_expires"]),
        "version": int(raw["_version"]),
        "formData": {k[len(FIELD):]: json.loads(v) for k, v in raw.items() if k.startswith(FIELD)},
    }


def _encode_fields(fields: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in fields.items():
        out += [FIELD + name, json.dumps(value, ensure_ascii=False)]
    return out


class RedisSessionStore:
    """Atomic draft-session operations; times are epoch milliseconds given by the caller."""

    def __init__(self, redis_client=None):
        self._client = redis_client
        self._scripts: dict[str, Any] = {}

    @property
    def redis(self):
        return self._client or client()

    def _script(self, name: str, source: str):
        # redis-py's Script object sends EVALSHA and reloads the script after a server restart.
        redis = self.redis
        cached = self._scripts.get(name)
        if cached is None or cached[0] is not redis:
            cached = (redis, redis.register_script(source))
            self._scripts[name] = cached
        return cached[1]

    def create(self, user_id: str, session_id: str, org_id: Optional[str], form: dict[str, Any], *,
               now_ms: int, ttl_ms: int, max_sessions: int, max_per_minute: int) -> dict[str, Any]:
        keys = [session_key(user_id, session_id), index_key(user_id), rate_key(user_id, now_ms // 60000)]
        args = [session_id, org_id or "", now_ms, ttl_ms, max_sessions, max_per_minute, *_encode_fields(form)]
        with redis_errors():
            result = self._script("create", _CREATE)(keys=keys, args=args)
        if result and result[0] in ("rate_limited", "too_many_sessions"):
            raise StoreOutcome(result[0], int(result[1]) if len(result) > 1 else None)
        return _decode(result)

    def get(self, user_id: str, session_id: str) -> Optional[dict[str, Any]]:
        with redis_errors():
            flat = self.redis.hgetall(session_key(user_id, session_id))
        if not flat or "_sid" not in flat:
            return None
        return _decode([x for kv in flat.items() for x in kv])

    def patch(self, user_id: str, session_id: str, set_fields: dict[str, Any], remove: list[str], *,
              expected_version: Optional[int], now_ms: int, ttl_ms: int) -> dict[str, Any]:
        keys = [session_key(user_id, session_id), index_key(user_id)]
        encoded = _encode_fields(set_fields)
        args = [session_id, now_ms, ttl_ms, "" if expected_version is None else expected_version,
                len(encoded) // 2, *encoded, *(FIELD + name for name in remove)]
        with redis_errors():
            result = self._script("patch", _PATCH)(keys=keys, args=args)
        if result and result[0] in ("not_found", "version_conflict"):
            raise StoreOutcome(result[0], int(result[1]) if len(result) > 1 else None)
        return _decode(result)

    def delete(self, user_id: str, session_id: str) -> bool:
        with redis_errors():
            removed = self._script("delete", _DELETE)(
                keys=[session_key(user_id, session_id), index_key(user_id)], args=[session_id])
        return bool(removed)

    def list(self, user_id: str, *, now_ms: int) -> list[dict[str, Any]]:
        """The user's live sessions (newest first), read from the index, never by scanning."""
        with redis_errors():
            ids = self.redis.zrangebyscore(index_key(user_id), now_ms, "+inf")
            if not ids:
                return []
            pipe = self.redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hmget(session_key(user_id, sid), "_sid", "_updated", "_expires", FIELD + "topic")
            rows = pipe.execute()
        sessions = [
            {"sessionId": sid, "updatedAt": int(updated), "expiresAt": int(expires),
             "topic": json.loads(topic) if topic else None}
            for sid, updated, expires, topic in rows
            if sid  # expired between the two reads
        ]
        return sorted(sessions, key=lambda s: s["updatedAt"], reverse=True)

    def prune_indexes(self, *, now_ms: int, scan_count: int = 1000) -> dict[str, int]:
        """Drop expired ids from every per-user index; count the live sessions left.

        SCANs over the index keys of every primary (never KEYS); one pipeline per SCAN reply. Used
        by the hourly job and the health check.
        """
        from ..cache import scan_pages

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
