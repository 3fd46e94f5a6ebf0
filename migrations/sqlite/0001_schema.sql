-- Switchyard schema, version 1: the whole product, so later features extend it rather than rewrite it.
-- Conventions (shared by the SQLite and Postgres migrations, which differ only in BLOB/BYTEA):
--   * ids are TEXT: a type prefix and a time-ordered UUIDv7 (e.g. `ten_0190...`);
--   * times are BIGINT milliseconds since the Unix epoch, UTC;
--   * money is BIGINT nano-USD (1 USD = 1_000_000_000); prices are nano-USD per million tokens;
--   * lists and free-form settings are JSON in TEXT columns;
--   * every tenant-owned row carries tenant_id, and every index on it starts with tenant_id.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    settings        TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    display_name        TEXT,
    is_platform_admin   BOOLEAN NOT NULL DEFAULT FALSE,
    totp_secret         BLOB,
    totp_enabled        BOOLEAN NOT NULL DEFAULT FALSE,
    password_changed_at BIGINT NOT NULL,
    last_login_at       BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  TEXT REFERENCES users(id) ON DELETE SET NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE team_members (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_tenant ON team_members (tenant_id, user_id);

-- Dashboard sessions (the JWT carries the id; revocation sets revoked_at).
CREATE TABLE user_sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip          TEXT,
    user_agent  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);

-- Admin API tokens (distinct from virtual keys): only a hash of the secret is stored.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_id    TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

-- Virtual keys. The secret is never stored: `secret_hash` is the SHA-256 of the whole key, found
-- through its public id. A rotation moves the current public id and hash to `previous_*`, which keep
-- working until `previous_expires_at`.
CREATE TABLE virtual_keys (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    team_id               TEXT REFERENCES teams(id) ON DELETE SET NULL,
    user_id               TEXT REFERENCES users(id) ON DELETE SET NULL,
    name                  TEXT NOT NULL,
    public_id             TEXT NOT NULL UNIQUE,
    secret_hash           TEXT NOT NULL,
    last4                 TEXT NOT NULL,
    previous_public_id    TEXT UNIQUE,
    previous_secret_hash  TEXT,
    previous_expires_at   BIGINT,
    allowed_models        TEXT NOT NULL DEFAULT '[]',
    rpm_limit             BIGINT,
    tpm_limit             BIGINT,
    max_concurrent        BIGINT,
    allowed_ips           TEXT NOT NULL DEFAULT '[]',
    allowed_referrers     TEXT NOT NULL DEFAULT '[]',
    metadata              TEXT NOT NULL DEFAULT '{}',
    expires_at            BIGINT,
    revoked_at            BIGINT,
    last_used_at          BIGINT,
    created_by            TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX virtual_keys_tenant ON virtual_keys (tenant_id, created_at);
CREATE INDEX virtual_keys_team ON virtual_keys (tenant_id, team_id);

-- Provider credentials a tenant brings (BYOK): the secret is AES-256-GCM ciphertext bound to its row.
CREATE TABLE provider_credentials (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    base_url          TEXT,
    settings          TEXT NOT NULL DEFAULT '{}',
    secret_ciphertext BLOB NOT NULL,
    secret_nonce      BLOB NOT NULL,
    key_version       BIGINT NOT NULL DEFAULT 1,
    masked_secret     TEXT NOT NULL,
    last_tested_at    BIGINT,
    last_test_ok      BOOLEAN,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Tenant model catalog (platform models come from the configuration file).
CREATE TABLE models (
    id                       TEXT PRIMARY KEY,
    tenant_id                TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    credential_id            TEXT REFERENCES provider_credentials(id) ON DELETE SET NULL,
    provider                 TEXT,
    upstream                 TEXT NOT NULL,
    input_nusd_per_mtok      BIGINT,
    output_nusd_per_mtok     BIGINT,
    cached_input_nusd_per_mtok BIGINT,
    cache_write_nusd_per_mtok BIGINT,
    request_nusd             BIGINT,
    max_output_tokens        BIGINT,
    context_window           BIGINT,
    billing                  TEXT NOT NULL DEFAULT 'byok' CHECK (billing IN ('byok', 'credits')),
    markup_bps               BIGINT NOT NULL DEFAULT 0,
    allow_unpriced           BOOLEAN NOT NULL DEFAULT FALSE,
    settings                 TEXT NOT NULL DEFAULT '{}',
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Tenant routes: strategy, targets, fallbacks, rules and timeouts as JSON in `definition`.
CREATE TABLE routes (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    strategy    TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Budgets: scope_type tenant|team|key|user|model, scope_id the object's id (or end-user id, or model
-- name; the tenant id for a tenant budget).
CREATE TABLE budgets (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    scope_type        TEXT NOT NULL CHECK (scope_type IN ('tenant', 'team', 'key', 'user', 'model')),
    scope_id          TEXT NOT NULL,
    period            TEXT NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly', 'total')),
    limit_nusd        BIGINT NOT NULL CHECK (limit_nusd >= 0),
    alert_thresholds  TEXT NOT NULL DEFAULT '[50,80,100]',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (tenant_id, scope_type, scope_id, period)
);

-- Spend and open reservations per budget scope and period: the arbiter for reserve-then-settle.
CREATE TABLE spend_counters (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    scope_type    TEXT NOT NULL,
    scope_id      TEXT NOT NULL,
    period        TEXT NOT NULL,
    period_start  BIGINT NOT NULL,
    spent_nusd    BIGINT NOT NULL DEFAULT 0,
    reserved_nusd BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_type, scope_id, period, period_start)
);

-- One row per budget threshold crossed in a period: an alert fires once.
CREATE TABLE budget_alerts_fired (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    budget_id     TEXT NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,
    period_start  BIGINT NOT NULL,
    threshold_pct BIGINT NOT NULL,
    fired_at      BIGINT NOT NULL,
    PRIMARY KEY (budget_id, period_start, threshold_pct)
);

CREATE TABLE alert_destinations (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'webhook', 'slack')),
    target      TEXT NOT NULL,
    secret_ciphertext BLOB,
    secret_nonce      BLOB,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX alert_destinations_tenant ON alert_destinations (tenant_id);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL DEFAULT '{}',
    read_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX notifications_tenant ON notifications (tenant_id, created_at);

-- The request log, built for volume: the id is a time-ordered UUIDv7 request id, reads go through
-- (tenant, time) and (key, time); dashboards read usage_rollups instead of scanning this table.
CREATE TABLE request_logs (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    team_id             TEXT,
    key_id              TEXT,
    end_user            TEXT,
    route               TEXT,
    requested_model     TEXT,
    served_model        TEXT,
    provider            TEXT,
    endpoint            TEXT NOT NULL,
    status              BIGINT NOT NULL,
    error_code          TEXT,
    error_message       TEXT,
    outcome             TEXT NOT NULL DEFAULT 'complete' CHECK (outcome IN ('complete', 'incomplete', 'error')),
    latency_ms          BIGINT NOT NULL,
    ttft_ms             BIGINT,
    prompt_tokens       BIGINT NOT NULL DEFAULT 0,
    completion_tokens   BIGINT NOT NULL DEFAULT 0,
    cached_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    usage_estimated     BOOLEAN NOT NULL DEFAULT FALSE,
    cost_nusd           BIGINT NOT NULL DEFAULT 0,
    saved_nusd          BIGINT NOT NULL DEFAULT 0,
    cache_result        TEXT,
    attempts            BIGINT NOT NULL DEFAULT 1,
    streamed            BOOLEAN NOT NULL DEFAULT FALSE,
    pii_counts          TEXT,
    request_body        TEXT,
    response_body       TEXT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX request_logs_tenant_time ON request_logs (tenant_id, created_at);
CREATE INDEX request_logs_key_time ON request_logs (key_id, created_at);

-- Usage rollups per hour and per day: what usage queries and the dashboard read.
-- Absent dimensions are stored as '' so the primary key stays total.
CREATE TABLE usage_rollups (
    tenant_id          TEXT NOT NULL,
    granularity        TEXT NOT NULL CHECK (granularity IN ('hour', 'day')),
    bucket_start       BIGINT NOT NULL,
    team_id            TEXT NOT NULL DEFAULT '',
    key_id             TEXT NOT NULL DEFAULT '',
    model              TEXT NOT NULL DEFAULT '',
    requests           BIGINT NOT NULL DEFAULT 0,
    errors             BIGINT NOT NULL DEFAULT 0,
    prompt_tokens      BIGINT NOT NULL DEFAULT 0,
    completion_tokens  BIGINT NOT NULL DEFAULT 0,
    cached_tokens      BIGINT NOT NULL DEFAULT 0,
    cost_nusd          BIGINT NOT NULL DEFAULT 0,
    saved_nusd         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, granularity, bucket_start, team_id, key_id, model)
);

-- Append-only audit trail of administrative actions. before/after hold masked JSON snapshots.
CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT,
    actor_user_id TEXT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    object_id     TEXT,
    ip            TEXT,
    before_state  TEXT,
    after_state   TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, created_at);

-- Prepaid credits: a cached balance, a double-entry ledger and the Stripe events applied once.
CREATE TABLE credit_balances (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    balance_nusd   BIGINT NOT NULL DEFAULT 0,
    reserved_nusd  BIGINT NOT NULL DEFAULT 0,
    auto_recharge_below_nusd BIGINT,
    auto_recharge_amount_nusd BIGINT,
    last_auto_recharge_at BIGINT,
    stripe_customer_id TEXT,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE credit_transactions (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('purchase', 'usage', 'refund', 'dispute', 'trial', 'adjustment', 'auto_recharge')),
    amount_nusd   BIGINT NOT NULL,
    external_ref  TEXT UNIQUE,
    description   TEXT NOT NULL DEFAULT '',
    receipt_url   TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX credit_transactions_tenant ON credit_transactions (tenant_id, created_at);

-- Each transaction's entries sum to zero across accounts.
CREATE TABLE credit_entries (
    transaction_id TEXT NOT NULL REFERENCES credit_transactions(id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    account        TEXT NOT NULL,
    amount_nusd    BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, account)
);
CREATE INDEX credit_entries_tenant_account ON credit_entries (tenant_id, account);

CREATE TABLE stripe_events (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    tenant_id     TEXT,
    processed_at  BIGINT NOT NULL
);

-- A version counter per scope ('policy' for the data-path snapshot), bumped on every change that the
-- in-memory snapshot depends on, so replicas that poll see a change within their poll interval.
CREATE TABLE change_versions (
    scope       TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO change_versions (scope, version, updated_at) VALUES ('policy', 0, 0);
