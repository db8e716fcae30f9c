-- Vault KV v2 style settings per path.
ALTER TABLE secret_metadata ADD COLUMN cas_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE secret_metadata ADD COLUMN delete_version_after INTEGER NOT NULL DEFAULT 0; -- nanoseconds, 0 = off
ALTER TABLE secret_metadata ADD COLUMN custom_metadata TEXT NOT NULL DEFAULT '{}';    -- JSON object
