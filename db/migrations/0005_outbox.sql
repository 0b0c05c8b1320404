-- 0005: nothing lost after the commit (issue #13).
--
-- Reason for `outbox_events`: what a committed change must set off (customer and admin
-- notifications, sync alerts, any other background job) used to be sent to Redis right after the
-- commit; when Redis was unreachable at that instant the work was logged and dropped. The event is
-- now a row written in the same transaction as the change (a transactional outbox): it exists if
-- and only if the change does. A relay in the worker (sync/relay.py), woken by NOTIFY, enqueues
-- each row as an arq job under the row's job id (so a row delivered twice, after a crash between
-- enqueue and marking, is one job) and marks it delivered; rows left by a crash or a Redis outage
-- are delivered when the relay next runs. Delivered rows are pruned after a retention period.
--
-- Reason for `pending_pushes`: a master stock or price change must reach every marketplace. The
-- debounce used to be an arq job id held while a push job was queued or running; a worker killed
-- mid-job kept that id "in progress" for ~10 minutes and every later sale of the product was taken
-- as already queued. The pending set is a row per (product, stock|price), upserted in the change's
-- transaction (a burst of sales is one row, `version` counts the changes). Any worker drains it
-- under a lease (`claimed_until`): a killed worker's claim expires by itself; a push that did not
-- land is retried with backoff (`due_at`, `attempts`) until it does; a row is deleted only when the
-- version it pushed is still the latest, so a change made during a push is pushed again.
--
-- The trigger NOTIFYs `amazing_store_outbox` so the relay wakes within milliseconds of the commit
-- (NOTIFY is delivered at commit, never for a rolled-back transaction). Catalog cache invalidation
-- uses NOTIFY on `amazing_store_catalog` directly from the transaction (no table needed).

CREATE TABLE outbox_events (
    id BIGSERIAL PRIMARY KEY,
    job_name VARCHAR(100) NOT NULL, -- the arq function to run
    args JSONB NOT NULL DEFAULT '[]'::jsonb, -- its positional arguments
    job_id VARCHAR(255) NOT NULL, -- the arq job id: the same event enqueued twice is one job
    queue VARCHAR(100) NOT NULL, -- the arq queue the job runs on
    defer_seconds NUMERIC(10,3) NOT NULL DEFAULT 0, -- delay after delivery before the job may run
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    attempts INTEGER NOT NULL DEFAULT 0, -- failed deliveries so far
    next_attempt_at TIMESTAMP NOT NULL DEFAULT NOW(),
    last_error TEXT,
    delivered_at TIMESTAMP -- enqueued in Redis; NULL while pending
);

CREATE INDEX idx_outbox_pending ON outbox_events(next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX idx_outbox_delivered ON outbox_events(delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE pending_pushes (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    sync_type VARCHAR(10) NOT NULL CHECK (sync_type IN ('stock', 'price')),
    version BIGINT NOT NULL DEFAULT 1, -- bumped by every change; a push deletes the row only at its version
    due_at TIMESTAMP NOT NULL, -- not before: the debounce, then the backoff after a failed push
    attempts INTEGER NOT NULL DEFAULT 0, -- pushes that did not land so far
    claimed_until TIMESTAMP, -- a worker's lease; expired = free for any worker
    last_error TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    PRIMARY KEY (product_id, sync_type)
);

CREATE INDEX idx_pending_pushes_due ON pending_pushes(due_at);

CREATE FUNCTION notify_outbox() RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify('amazing_store_outbox', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_outbox_events_notify
    AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

CREATE TRIGGER trg_pending_pushes_notify
    AFTER INSERT ON pending_pushes -- an upsert (INSERT ... ON CONFLICT DO UPDATE) fires it too
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();
