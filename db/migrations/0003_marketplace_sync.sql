-- 0003: marketplace sync (issue #4): prices, stock and orders kept right on Uzum, Wildberries and Ozon.
-- Reasons, object by object:
-- * marketplaces.settings: each account needs values that are not secret and have no column: Uzum's
--   shop id (prices are written per shop), the Wildberries / Ozon warehouse id (every stock write names
--   one) and Ozon's Client-Id (sent beside the Api-Key; an account id, not a secret: the key alone is
--   encrypted in api_key_encrypted). A JSON object because the set differs per marketplace.
-- * marketplace_products.marketplace_keys: the two owner's columns hold one id each
--   (marketplace_sku = the item's key: Uzum skuId, WB chrtID, Ozon offer_id; marketplace_product_id =
--   the card: Uzum productId, WB nmID, Ozon product_id), but the APIs need more at once: Uzum prices
--   need productId + skuId and its stock writes need the string barcode; WB prices are keyed by nmID
--   and stocks by chrtID; Ozon wants offer_id + product_id and reports its storefront sku in orders.
--   The full set lives here, in the adapters' own names (see sync/adapters/base.py).
-- * marketplace_products.marketplace_full_price: every marketplace takes two prices (Uzum fullPrice +
--   sellPrice, WB price + discount, Ozon old_price + price). marketplace_price keeps what the buyer pays
--   (our current price: the sale price when set); this keeps the full price it last accepted, so a
--   change of either is pushed and nothing else is.
-- * uq_mp_products_marketplace_sku: one marketplace item can carry only one of our products; two
--   mappings to the same item would push two different stocks to it.
-- * uq_orders_source_marketplace_order: the idempotency key of order import. Every worker inserts with
--   ON CONFLICT (source, marketplace_order_id) DO NOTHING, so an order fetched three times, or by two
--   workers at once, is one row and its stock is taken once. Mini App orders have no marketplace id
--   (NULL), and NULLs never conflict.
-- * marketplace_orders: what an imported order needs beyond the owner's orders row, one row per
--   imported order, written in the same transaction: the marketplace's own status (raw_status; Ozon's
--   arbitration keeps our status but is shown), the return flag (Uzum RETURNED is a cancellation that
--   came back from the buyer), the units actually taken from our stock per product (a sale that
--   already happened on the marketplace is recorded even when our stock was short, so a cancellation
--   must give back what was taken, not what was ordered), the shortfall for people to act on,
--   when the stock was given back (a cancellation returns it once, never twice), and the order as the
--   marketplace sent it, for audit.
-- * marketplace_sync_state: per marketplace and sync type, when the last scheduled / manual run
--   started (the cron tick counts sync_interval_minutes from it; per-product pushes after a sale do
--   not move it, so they never delay the full delta run) and, for orders, the high-water mark the next
--   import starts from (it moves only when a run imported everything it fetched).
-- * sync_log_items: a push of 10 000 items may fail for hundreds; sync_logs.error_message is a short
--   readable summary, and this keeps every failed item with what the marketplace said about it.

ALTER TABLE marketplaces ADD COLUMN settings JSONB NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE marketplace_products ADD COLUMN marketplace_keys JSONB NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE marketplace_products ADD COLUMN marketplace_full_price NUMERIC(10,2);

CREATE UNIQUE INDEX uq_mp_products_marketplace_sku ON marketplace_products(marketplace_id, marketplace_sku);

CREATE UNIQUE INDEX uq_orders_source_marketplace_order ON orders(source, marketplace_order_id);

CREATE TABLE marketplace_orders (
    order_id INTEGER PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
    marketplace_id INTEGER NOT NULL REFERENCES marketplaces(id) ON DELETE CASCADE,
    raw_status VARCHAR(64) NOT NULL, -- the marketplace's own status, as last seen
    is_return BOOLEAN NOT NULL DEFAULT FALSE, -- cancelled because the buyer sent it back
    stock_taken JSONB NOT NULL DEFAULT '{}'::jsonb, -- {"<product id>": units taken from our stock}
    stock_short JSONB NOT NULL DEFAULT '{}'::jsonb, -- {"<product id>": units ordered but not in stock}
    stock_returned_at TIMESTAMP, -- set when a cancellation gave stock_taken back
    payload JSONB NOT NULL, -- the order as the marketplace reported it (normalised by the adapter)
    imported_at TIMESTAMP NOT NULL DEFAULT NOW(),
    status_seen_at TIMESTAMP NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_marketplace_orders_marketplace ON marketplace_orders(marketplace_id);

CREATE TABLE marketplace_sync_state (
    marketplace_id INTEGER NOT NULL REFERENCES marketplaces(id) ON DELETE CASCADE,
    sync_type VARCHAR(20) NOT NULL, -- price, stock, orders
    last_run_at TIMESTAMP, -- start of the last whole-marketplace run
    cursor_at TIMESTAMP, -- orders: the next import asks for orders changed since this moment
    PRIMARY KEY (marketplace_id, sync_type)
);

CREATE TABLE sync_log_items (
    id SERIAL PRIMARY KEY,
    sync_log_id INTEGER NOT NULL REFERENCES sync_logs(id) ON DELETE CASCADE,
    marketplace_product_id INTEGER REFERENCES marketplace_products(id) ON DELETE SET NULL,
    item_ref VARCHAR(255) NOT NULL, -- our SKU, or the marketplace's order id for an order
    message TEXT NOT NULL -- what went wrong, in the marketplace's words where it gave any
);

CREATE INDEX idx_sync_log_items_log ON sync_log_items(sync_log_id);
