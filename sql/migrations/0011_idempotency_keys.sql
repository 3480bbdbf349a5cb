-- Idempotency-Key (API.md): the first answer of each key, per caller, for 24 hours, for the writes
-- made in Postgres (database-stored draft sessions, the purge). Redis-stored sessions keep theirs in
-- Redis, beside the session. A row is claimed (locked) by the write's own transaction and its answer
-- written in that transaction, so a write and its answer commit together.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope       text        NOT NULL,  -- the caller: a user id, or 'admin'
    key_hash    text        NOT NULL,  -- sha256 of the key (the key itself is the client's)
    fingerprint text        NOT NULL,  -- sha256 of the request: the same key with another request is a 422
    answer      jsonb,                 -- NULL while the claiming transaction is open
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key_hash)
);

-- The hourly cleanup forgets answers older than 24 hours, oldest first, in bounded chunks.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);

COMMENT ON TABLE idempotency_keys IS
    'First answers of Idempotency-Key requests (24 h); pruned by the hourly cleanup';
