-- The log row's own id stays a generated UUIDv7; the caller's request id (which callers may
-- reuse) is kept beside it for lookups.
ALTER TABLE request_logs ADD COLUMN request_id TEXT;
CREATE INDEX request_logs_request_id ON request_logs (tenant_id, request_id);
