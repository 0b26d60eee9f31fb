-- 0003 API tokens: bearer tokens for the HTTP API, stored as hashes only.
--
-- A token is `nst_<token_id>_<secret>`; `token_id` is public (listed, used to revoke), the
-- whole token is shown once by `nautilus-streams token create` and only its SHA-256 is kept.
-- Tokens are 256-bit random strings, so a fast hash is enough (nothing to brute-force).
-- Scopes: `read` (every GET route and the websocket) and `admin` (everything; implies read).
CREATE TABLE api_tokens (
    token_id      text        PRIMARY KEY,
    token_sha256  text        NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    name          text        NOT NULL,
    scope         text        NOT NULL CHECK (scope IN ('read', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
