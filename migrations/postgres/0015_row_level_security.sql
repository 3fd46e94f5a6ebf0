-- Row-level security: Postgres itself refuses one tenant's rows to another tenant's
-- transactions, beneath the repositories' own `tenant_id` predicates.
--
--   * `switchyard_app` is a NOLOGIN role without BYPASSRLS that owns nothing. The gateway
--     connects as whichever user the operator configured (that user runs the migrations and
--     owns the tables) and switches to `switchyard_app` inside every transaction.
--   * `switchyard_enter(scope)` opens each transaction: `SET LOCAL ROLE switchyard_app` (when
--     the role exists and the connecting user may use it) and `SET LOCAL switchyard.tenant`
--     to a tenant id, '*' for the platform's own work, or '' for nothing. Both end with the
--     transaction, so no pooled connection carries a tenant into its next transaction.
--   * Every table with a `tenant_id` column (and `tenants` by its `id`) has RLS enabled and
--     FORCEd (so it binds the table owner too) with one policy for reads and writes alike.
--   * `cache_vectors` is created at run time by the pgvector index, which gives it the same
--     policy (here too, when it already exists).
--
-- When the connecting user may not create roles, the role is skipped with a notice and the
-- policies bind that user instead (unless it is a superuser or has BYPASSRLS; the gateway
-- logs a warning at start-up in that case).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchyard_app') THEN
        CREATE ROLE switchyard_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION
    -- Another database of the same cluster created it at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create role switchyard_app; row-level security binds the connecting user';
END
$$;

DO $$
DECLARE
    schema_name text := current_schema();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchyard_app') THEN
        RETURN;
    END IF;
    -- A superuser may use any role. Anyone else needs the grant (on Postgres 16 and later, a
    -- CREATEROLE user holds only the ADMIN option on a role it creates, not SET).
    BEGIN
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            EXECUTE 'GRANT switchyard_app TO ' || quote_ident(current_user);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'cannot grant switchyard_app to %: %', current_user, SQLERRM;
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO switchyard_app', schema_name);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO switchyard_app',
        schema_name);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO switchyard_app',
        schema_name);
    -- Tables of later migrations (and the pgvector table) get the same grants.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO switchyard_app', schema_name);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT USAGE, SELECT ON SEQUENCES TO switchyard_app', schema_name);
END
$$;

CREATE OR REPLACE FUNCTION switchyard_enter(scope text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchyard_app')
        AND pg_has_role(current_user, 'switchyard_app',
            CASE WHEN current_setting('server_version_num')::int >= 160000
                THEN 'SET' ELSE 'MEMBER' END) THEN
        PERFORM set_config('role', 'switchyard_app', true);
    END IF;
    PERFORM set_config('switchyard.tenant', coalesce(scope, ''), true);
END
$$;

-- Whether the transaction's scope shows a row of `row_tenant` (inlined into each policy).
CREATE OR REPLACE FUNCTION switchyard_visible(row_tenant text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT current_setting('switchyard.tenant', true) = '*'
        OR row_tenant = current_setting('switchyard.tenant', true)
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.table_name, c.column_name
        FROM information_schema.columns c
        JOIN information_schema.tables tb
            ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
        WHERE c.table_schema = current_schema()
            AND tb.table_type = 'BASE TABLE'
            AND (c.column_name = 'tenant_id'
                OR (c.table_name = 'tenants' AND c.column_name = 'id'))
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.table_name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.table_name);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (switchyard_visible(%I)) '
            'WITH CHECK (switchyard_visible(%I))', t.table_name, t.column_name, t.column_name);
    END LOOP;
END
$$;
