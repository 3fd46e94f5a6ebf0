-- Team-level settings (JSON), e.g. the team's PII policy under "pii".
ALTER TABLE teams ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
