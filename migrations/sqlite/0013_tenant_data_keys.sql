-- Envelope encryption: each tenant's data key (32 random bytes), stored only wrapped by the
-- master key (AES-256-GCM, bound to the tenant id). Secrets that belong to no tenant (users'
-- TOTP secrets) use the platform's data key, the row whose tenant_id is 'platform' (tenant ids
-- carry a 'ten_' prefix, so it names no tenant, hence no foreign key). Secrets are sealed under
-- their owner's data key; rotating the master key re-wraps these rows and leaves the secrets
-- as they are. `kek_id` is the fingerprint of the master key that wrapped the row.
CREATE TABLE tenant_data_keys (
    tenant_id    TEXT PRIMARY KEY,
    wrapped_key  BLOB NOT NULL,
    nonce        BLOB NOT NULL,
    kek_id       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
