-- 0008: the sync schedule after a failure, and honest run logs (issue #13, items 7 and 8).
-- Reason (schedule): a failed scheduled run used to be retried only a whole sync_interval_minutes
-- (default 60) after it started, so a marketplace outage of a few minutes left the marketplaces
-- wrong for an hour. `failures` counts the scheduled runs of a marketplace and type that failed in a
-- row (the backoff step: 1, 2, 5, 10 minutes, never more than the interval); `retry_at` is when the
-- next scheduled run is due sooner than the interval (after a failure, or after a run whose items
-- the marketplace deferred, e.g. Ozon's one stock update per product and warehouse per 30 s), NULL
-- when the interval alone decides. Both are reset by a scheduled run that did not fail; a manual run
-- (bot /sync, `amazing-store sync run`) touches neither.
-- Reason (index): a run killed half-way leaves its sync_logs row open (completed_at NULL); the next
-- run of that marketplace and type, the cron tick and /syncstatus look for such rows to close them
-- as "interrupted". sync_logs gains a row per push, so that look-up needs a small partial index
-- instead of scanning the whole table.

ALTER TABLE marketplace_sync_state
    ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    ADD COLUMN retry_at TIMESTAMP;

CREATE INDEX idx_sync_logs_open ON sync_logs(marketplace_id, sync_type) WHERE completed_at IS NULL;
