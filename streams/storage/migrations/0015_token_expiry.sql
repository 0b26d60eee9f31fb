-- 0015 API tokens that expire: `expires_at` (null: never). A token is active while it is
-- neither revoked nor past its expiry (`streams.storage.tokens.active_scope`).
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
