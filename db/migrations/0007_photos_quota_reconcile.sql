-- 0007: marketplace truths and drift (issue #12).
-- Reasons, object by object:
-- * sync_log_items.ours / sync_log_items.theirs: the reconcile run reads back what each marketplace
--   holds for every mapped product and records every difference as one item of its sync_logs row;
--   the owner needs both values side by side ("ours 12, theirs 9"), not only a message, to see what
--   drifted and to trust that what was pushed fixed it. NULL for the failed items of other runs.
-- * marketplace_quotas: Uzum's gateway publishes a per-day request quota
--   (x-ratelimit-limit-per-day / x-ratelimit-remaining-per-day) that one price call per product can
--   use up. The last value seen is kept per marketplace so the next run (in any worker, after a
--   restart) stops before spending what is left instead of rediscovering it call by call, and so
--   /syncstatus can show it. One row per marketplace, overwritten after every run that saw the headers.

ALTER TABLE sync_log_items ADD COLUMN ours TEXT; -- reconcile: our value, as a person reads it
ALTER TABLE sync_log_items ADD COLUMN theirs TEXT; -- reconcile: the marketplace's value

CREATE TABLE marketplace_quotas (
    marketplace_id INTEGER PRIMARY KEY REFERENCES marketplaces(id) ON DELETE CASCADE,
    daily_limit INTEGER, -- x-ratelimit-limit-per-day, when sent
    daily_remaining INTEGER NOT NULL, -- x-ratelimit-remaining-per-day of the last answer seen
    observed_at TIMESTAMP NOT NULL -- when that answer came (UTC)
);
