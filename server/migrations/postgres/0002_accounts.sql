-- Accounts: sign-in identities (Petra wallets, OpenID Connect subjects), sessions, single-use nonces,
-- pending OIDC logins and API keys. Secrets (session tokens, API keys) are stored only as SHA-256 hashes.

CREATE TABLE identities (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT   NOT NULL CHECK (provider IN ('aptos', 'oidc')),
    subject       TEXT   NOT NULL,
    label         TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_by_user ON identities (user_id);

CREATE TABLE sessions (
    token_hash      TEXT   PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE wallet_nonces (
    nonce         TEXT   PRIMARY KEY,
    address       TEXT   NOT NULL,
    link_user_id  BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT
);

CREATE TABLE oidc_logins (
    state         TEXT   PRIMARY KEY,
    pkce_verifier TEXT   NOT NULL,
    nonce         TEXT   NOT NULL,
    link_user_id  BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT   NOT NULL,
    prefix          TEXT   NOT NULL,
    key_hash        TEXT   NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);
