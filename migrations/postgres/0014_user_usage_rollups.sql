-- Usage per end user (the request's `user` field) per hour and per day, so usage grouped by
-- user reads rollups instead of scanning the request log. Requests without a user are kept
-- under '' so every request is counted. Filled from the existing log once, here.
CREATE TABLE user_usage_rollups (
    tenant_id          TEXT NOT NULL,
    granularity        TEXT NOT NULL CHECK (granularity IN ('hour', 'day')),
    bucket_start       BIGINT NOT NULL,
    end_user           TEXT NOT NULL DEFAULT '',
    requests           BIGINT NOT NULL DEFAULT 0,
    errors             BIGINT NOT NULL DEFAULT 0,
    prompt_tokens      BIGINT NOT NULL DEFAULT 0,
    completion_tokens  BIGINT NOT NULL DEFAULT 0,
    cached_tokens      BIGINT NOT NULL DEFAULT 0,
    cost_nusd          BIGINT NOT NULL DEFAULT 0,
    saved_nusd         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, granularity, bucket_start, end_user)
);

INSERT INTO user_usage_rollups (tenant_id, granularity, bucket_start, end_user, requests, errors,
                                prompt_tokens, completion_tokens, cached_tokens, cost_nusd, saved_nusd)
SELECT tenant_id, g.granularity, created_at - (created_at % g.size), COALESCE(end_user, ''),
       COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(prompt_tokens),
       SUM(completion_tokens), SUM(cached_tokens), SUM(cost_nusd), SUM(saved_nusd)
FROM request_logs
CROSS JOIN (SELECT 'hour' AS granularity, 3600000 AS size
            UNION ALL SELECT 'day', 86400000) AS g
GROUP BY tenant_id, g.granularity, created_at - (created_at % g.size), COALESCE(end_user, '');
