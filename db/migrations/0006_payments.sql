-- 0006: online payment with Payme, Click and Telegram Payments beside cash on delivery (issue #10).
--
-- Reasons:
-- * `order_payments`: the owner's `orders` has `payment_status` (unpaid, paid, refunded) but not
--   how the customer chose to pay, the exact amount owed in tiyin, or when an unpaid online order
--   expires. A table of its own (one row per Mini App order, keyed by the order) keeps the owner's
--   `orders` columns as designed; marketplace orders have no row (the marketplace takes the money).
--   The partial index serves the expiry job, which looks only at unpaid online orders.
-- * `payment_transactions`: every payment system calls us more than once for the same payment
--   (retries, Payme's Check*/Perform*, Click's prepare then complete). A unique
--   (provider, provider_transaction_id) makes every callback idempotent: the second call finds the
--   row the first one wrote. `state` follows Payme's documented transaction states (1 created,
--   2 performed, -1 cancelled, -2 cancelled after perform) for all three providers, `reason` its
--   cancel reasons; the times are milliseconds since the epoch as Payme's protocol reports them.
--   One active (state 1) transaction per order and provider is a unique partial index, so two
--   racing CreateTransaction calls cannot both hold the order.
-- * `payment_events`: an audit row for every money change (transaction created, paid, cancelled,
--   refunded, order expired): who did it, the amount and the payment status before and after.
--   Written in the same transaction as the change; never updated.

CREATE TABLE order_payments (
    order_id INTEGER PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
    method VARCHAR(20) NOT NULL CHECK (method IN ('cash', 'payme', 'click', 'telegram')),
    amount_tiyin BIGINT NOT NULL CHECK (amount_tiyin >= 0), -- the order's total in tiyin (1 so'm = 100 tiyin)
    expires_at TIMESTAMP, -- online methods: still unpaid at this moment (UTC), the order is cancelled
    paid_at TIMESTAMP,
    refunded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE INDEX idx_order_payments_unpaid_expiry ON order_payments(expires_at)
    WHERE paid_at IS NULL AND expires_at IS NOT NULL;

CREATE TABLE payment_transactions (
    id SERIAL PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    provider VARCHAR(20) NOT NULL CHECK (provider IN ('payme', 'click', 'telegram')),
    provider_transaction_id VARCHAR(255) NOT NULL, -- Payme `id`, Click `click_trans_id`, Telegram charge id
    amount_tiyin BIGINT NOT NULL CHECK (amount_tiyin >= 0),
    state SMALLINT NOT NULL CHECK (state IN (1, 2, -1, -2)),
    reason SMALLINT, -- Payme's cancel reason (1..5, 10); null unless cancelled
    provider_time BIGINT, -- Payme: `time` of CreateTransaction (ms), what GetStatement filters on
    create_time BIGINT NOT NULL, -- ms since the epoch
    perform_time BIGINT NOT NULL DEFAULT 0,
    cancel_time BIGINT NOT NULL DEFAULT 0,
    details JSONB NOT NULL DEFAULT '{}'::jsonb, -- e.g. click_paydoc_id, Telegram's two charge ids
    UNIQUE (provider, provider_transaction_id)
);

CREATE INDEX idx_payment_transactions_order ON payment_transactions(order_id);
CREATE INDEX idx_payment_transactions_provider_time ON payment_transactions(provider, provider_time);
CREATE UNIQUE INDEX uq_payment_transactions_active ON payment_transactions(order_id, provider) WHERE state = 1;

CREATE TABLE payment_events (
    id SERIAL PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    transaction_id INTEGER REFERENCES payment_transactions(id) ON DELETE SET NULL,
    event VARCHAR(30) NOT NULL, -- started, transaction_created, paid, transaction_cancelled, refunded, expired
    provider VARCHAR(20), -- cash, payme, click, telegram
    amount_tiyin BIGINT,
    old_payment_status VARCHAR(20),
    new_payment_status VARCHAR(20),
    actor VARCHAR(100) NOT NULL, -- payme, click, telegram, customer, worker, admin:<telegram id>
    note TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE INDEX idx_payment_events_order ON payment_events(order_id, id);
