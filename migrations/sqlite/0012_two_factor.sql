-- TOTP two-factor login (RFC 6238). The shared secret is stored only sealed under the master
-- key (AES-256-GCM, bound to the user id); `confirmed_at` stays NULL until the user proves
-- the authenticator works. `last_used_step` is the last accepted time step: a code is never
-- accepted twice.
CREATE TABLE user_totp (
    user_id           TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_ciphertext BLOB NOT NULL,
    secret_nonce      BLOB NOT NULL,
    confirmed_at      BIGINT,
    last_used_step    BIGINT,
    created_at        BIGINT NOT NULL
);

-- One-time recovery codes, stored as SHA-256 hashes (they are 80 random bits each).
CREATE TABLE user_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
