-- 0002: the Mini App storefront (issue #3).
-- Reasons, object by object:
-- * order_number_seq: order numbers such as AS-2026-000123 must be unique and readable; a sequence
--   hands out the running number without racing concurrent checkouts (max()+1 would collide).
-- * users.language_chosen: a customer's language follows Telegram's language_code until they pick
--   one themselves in the Mini App or the bot; after that, their choice wins. Without the flag the
--   two cases cannot be told apart.
-- * idempotency_keys: POST /api/orders with the same Idempotency-Key must return the same order
--   and create nothing; the row ties (customer, key) to the order and to a fingerprint of the
--   request body so that a reused key with a different body is refused. Rows are written in the
--   checkout's own transaction, so a failed checkout leaves no key behind.
-- * pg_trgm + trigram indexes on the product names: search matches any part of a name in either
--   language (ILIKE '%...%'), which a b-tree cannot serve; without them every search scans the table.
-- * idx_products_barcode: search also finds a product by its exact barcode (scanned or typed).
-- * idx_products_popular: the home page lists the most ordered active products on every visit.

CREATE SEQUENCE order_number_seq;

ALTER TABLE users ADD COLUMN language_chosen BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE idempotency_keys (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key VARCHAR(255) NOT NULL,
    fingerprint CHAR(64) NOT NULL, -- sha256 (hex) of the normalised request body
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idx_idempotency_keys_order ON idempotency_keys(order_id);

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX idx_products_name_uz_trgm ON products USING gin (name_uz gin_trgm_ops);
CREATE INDEX idx_products_name_ru_trgm ON products USING gin (name_ru gin_trgm_ops);
CREATE INDEX idx_products_barcode ON products(barcode) WHERE barcode IS NOT NULL;
CREATE INDEX idx_products_popular ON products(order_count DESC, id) WHERE is_active = TRUE;
