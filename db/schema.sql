-- Amazing Store: the owner's schema, as approved in ../shared/spec/ (11 tables, indexes,
-- the update_updated_at_column() function and its 7 triggers). This file is the contract;
-- db/migrations/ must produce exactly this catalog (checked by tests/test_migrations.py).

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    telegram_id BIGINT UNIQUE NOT NULL,
    
    -- Profile
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100),
    username VARCHAR(100),
    phone VARCHAR(20),
    
    -- Settings
    language VARCHAR(2) DEFAULT 'uz', -- uz, ru
    
    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    
    -- Timestamps
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    last_login_at TIMESTAMP
);

CREATE INDEX idx_users_telegram_id ON users(telegram_id);
CREATE INDEX idx_users_phone ON users(phone) WHERE phone IS NOT NULL;

CREATE TABLE categories (
    id SERIAL PRIMARY KEY,
    
    -- Multilang
    name_uz VARCHAR(255) NOT NULL,
    name_ru VARCHAR(255),
    
    -- Hierarchy
    parent_id INTEGER REFERENCES categories(id) ON DELETE CASCADE,
    
    -- Display
    icon VARCHAR(50),
    image_url TEXT,
    sort_order INTEGER DEFAULT 0,
    is_active BOOLEAN DEFAULT TRUE,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_categories_parent ON categories(parent_id);
CREATE INDEX idx_categories_active ON categories(is_active) WHERE is_active = TRUE;

CREATE TABLE products (
    id SERIAL PRIMARY KEY,
    
    -- SKU (UNIQUE - for marketplace mapping)
    sku VARCHAR(100) UNIQUE NOT NULL,
    barcode VARCHAR(100),
    
    -- Multilang
    name_uz VARCHAR(255) NOT NULL,
    name_ru VARCHAR(255),
    description_uz TEXT,
    description_ru TEXT,
    
    -- Category
    category_id INTEGER REFERENCES categories(id) ON DELETE SET NULL,
    
    -- Pricing
    price NUMERIC(10,2) NOT NULL CHECK (price >= 0),
    sale_price NUMERIC(10,2) CHECK (sale_price IS NULL OR sale_price >= 0),
    
    -- Main image
    image_url TEXT,
    
    -- Stock (master stock)
    stock_quantity INTEGER DEFAULT 0 CHECK (stock_quantity >= 0),
    
    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    
    -- Metrics
    view_count INTEGER DEFAULT 0,
    order_count INTEGER DEFAULT 0,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_products_sku ON products(sku);
CREATE INDEX idx_products_category ON products(category_id);
CREATE INDEX idx_products_active ON products(is_active) WHERE is_active = TRUE;

CREATE TABLE marketplaces (
    id SERIAL PRIMARY KEY,
    
    -- Marketplace info
    name VARCHAR(100) NOT NULL, -- Uzum, Wildberries, OZON, etc.
    slug VARCHAR(50) UNIQUE NOT NULL, -- uzum, wildberries, ozon
    
    -- API config
    api_base_url TEXT,
    api_key_encrypted TEXT, -- encrypted
    
    -- Settings
    is_active BOOLEAN DEFAULT TRUE,
    auto_sync_enabled BOOLEAN DEFAULT TRUE,
    sync_interval_minutes INTEGER DEFAULT 60,
    
    -- Last sync
    last_sync_at TIMESTAMP,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_marketplaces_active ON marketplaces(is_active) WHERE is_active = TRUE;

CREATE TABLE marketplace_products (
    id SERIAL PRIMARY KEY,
    
    -- Our product
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    
    -- Marketplace
    marketplace_id INTEGER NOT NULL REFERENCES marketplaces(id) ON DELETE CASCADE,
    
    -- Marketplace product info
    marketplace_sku VARCHAR(255) NOT NULL, -- Their SKU
    marketplace_product_id VARCHAR(255), -- Their internal ID
    marketplace_url TEXT, -- Product page URL
    
    -- Pricing sync
    marketplace_price NUMERIC(10,2),
    last_price_sync_at TIMESTAMP,
    
    -- Stock sync
    marketplace_stock INTEGER,
    last_stock_sync_at TIMESTAMP,
    
    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    
    UNIQUE(product_id, marketplace_id)
);

CREATE INDEX idx_mp_products_product ON marketplace_products(product_id);
CREATE INDEX idx_mp_products_marketplace ON marketplace_products(marketplace_id);
CREATE INDEX idx_mp_products_sku ON marketplace_products(marketplace_sku);

CREATE TABLE cart_items (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    
    -- Quantity
    quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0),
    
    -- Price snapshot
    price_snapshot NUMERIC(10,2) NOT NULL,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    
    UNIQUE(user_id, product_id)
);

CREATE INDEX idx_cart_user ON cart_items(user_id);
CREATE INDEX idx_cart_product ON cart_items(product_id);

CREATE TABLE favorites (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    
    created_at TIMESTAMP DEFAULT NOW(),
    
    UNIQUE(user_id, product_id)
);

CREATE INDEX idx_favorites_user ON favorites(user_id);
CREATE INDEX idx_favorites_product ON favorites(product_id);

CREATE TABLE orders (
    id SERIAL PRIMARY KEY,
    order_number VARCHAR(50) UNIQUE NOT NULL,
    
    -- Source
    source VARCHAR(20) DEFAULT 'app', -- app, uzum, wildberries, ozon, etc.
    marketplace_order_id VARCHAR(255), -- If from marketplace
    
    -- Customer
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    customer_name VARCHAR(255) NOT NULL,
    customer_phone VARCHAR(20) NOT NULL,
    
    -- Totals
    subtotal NUMERIC(10,2) NOT NULL,
    delivery_fee NUMERIC(10,2) DEFAULT 0,
    total NUMERIC(10,2) NOT NULL,
    
    -- Status
    status VARCHAR(20) DEFAULT 'pending', -- pending, confirmed, shipped, delivered, cancelled
    payment_status VARCHAR(20) DEFAULT 'unpaid', -- unpaid, paid, refunded
    
    -- Delivery
    delivery_address TEXT,
    delivery_notes TEXT,
    
    -- Timestamps
    created_at TIMESTAMP DEFAULT NOW(),
    confirmed_at TIMESTAMP,
    delivered_at TIMESTAMP,
    cancelled_at TIMESTAMP
);

CREATE INDEX idx_orders_user ON orders(user_id);
CREATE INDEX idx_orders_source ON orders(source);
CREATE INDEX idx_orders_status ON orders(status);
CREATE INDEX idx_orders_number ON orders(order_number);
CREATE INDEX idx_orders_marketplace ON orders(marketplace_order_id) WHERE marketplace_order_id IS NOT NULL;

CREATE TABLE order_items (
    id SERIAL PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    
    -- Product snapshot
    product_name VARCHAR(255) NOT NULL,
    product_sku VARCHAR(100) NOT NULL,
    
    -- Pricing
    price NUMERIC(10,2) NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    subtotal NUMERIC(10,2) NOT NULL,
    
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_order_items_order ON order_items(order_id);
CREATE INDEX idx_order_items_product ON order_items(product_id);
CREATE INDEX idx_order_items_sku ON order_items(product_sku);

CREATE TABLE banners (
    id SERIAL PRIMARY KEY,
    
    -- Content
    title_uz VARCHAR(255),
    title_ru VARCHAR(255),
    image_url TEXT NOT NULL,
    
    -- Link
    link_type VARCHAR(20), -- product, category, url
    link_id INTEGER,
    link_url TEXT,
    
    -- Display
    sort_order INTEGER DEFAULT 0,
    is_active BOOLEAN DEFAULT TRUE,
    
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_banners_active ON banners(is_active) WHERE is_active = TRUE;

CREATE TABLE sync_logs (
    id SERIAL PRIMARY KEY,
    
    -- Sync info
    marketplace_id INTEGER NOT NULL REFERENCES marketplaces(id) ON DELETE CASCADE,
    sync_type VARCHAR(20) NOT NULL, -- price, stock, orders
    
    -- Status
    status VARCHAR(20) NOT NULL, -- success, error, partial
    
    -- Details
    items_processed INTEGER DEFAULT 0,
    items_failed INTEGER DEFAULT 0,
    error_message TEXT,
    
    -- Duration
    started_at TIMESTAMP DEFAULT NOW(),
    completed_at TIMESTAMP
);

CREATE INDEX idx_sync_logs_marketplace ON sync_logs(marketplace_id);
CREATE INDEX idx_sync_logs_type ON sync_logs(sync_type);
CREATE INDEX idx_sync_logs_started ON sync_logs(started_at DESC);

-- Updated_at trigger function
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Apply to tables
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_products_updated_at BEFORE UPDATE ON products 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_categories_updated_at BEFORE UPDATE ON categories 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_marketplaces_updated_at BEFORE UPDATE ON marketplaces 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_marketplace_products_updated_at BEFORE UPDATE ON marketplace_products 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_cart_items_updated_at BEFORE UPDATE ON cart_items 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    
CREATE TRIGGER update_banners_updated_at BEFORE UPDATE ON banners 
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- =====================================================================================
-- Additions after the owner's design. Each section names its migration, which gives the reason.
-- =====================================================================================

-- (0002) storefront
-- Reasons: see db/migrations/0002_storefront.sql.

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


-- (0003) marketplace sync
-- Reasons: see db/migrations/0003_marketplace_sync.sql.

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

-- (0004) bot

CREATE TABLE bot_blocked_chats (
    chat_id BIGINT PRIMARY KEY, -- the Telegram chat (for a private chat, the user's Telegram id)
    blocked_at TIMESTAMP NOT NULL DEFAULT NOW(),
    reason TEXT -- Telegram's description, e.g. "Forbidden: bot was blocked by the user"
);

-- (0005) outbox: events and pending marketplace pushes written with the change
-- Reasons: see db/migrations/0005_outbox.sql.

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

-- (0006) payments
-- Reasons: see db/migrations/0006_payments.sql.

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

-- (0007) marketplace truths and drift

ALTER TABLE sync_log_items ADD COLUMN ours TEXT; -- reconcile: our value, as a person reads it
ALTER TABLE sync_log_items ADD COLUMN theirs TEXT; -- reconcile: the marketplace's value

CREATE TABLE marketplace_quotas (
    marketplace_id INTEGER PRIMARY KEY REFERENCES marketplaces(id) ON DELETE CASCADE,
    daily_limit INTEGER, -- x-ratelimit-limit-per-day, when sent
    daily_remaining INTEGER NOT NULL, -- x-ratelimit-remaining-per-day of the last answer seen
    observed_at TIMESTAMP NOT NULL -- when that answer came (UTC)
);

-- (0008) sync schedule after a failure; open (unfinished) runs

ALTER TABLE marketplace_sync_state
    ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    ADD COLUMN retry_at TIMESTAMP;

CREATE INDEX idx_sync_logs_open ON sync_logs(marketplace_id, sync_type) WHERE completed_at IS NULL;

-- (0009) forgiving search (folded names, trigram index); per-language banner artwork

CREATE FUNCTION store_search_fold(value TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT btrim(regexp_replace(translate(translate(
        replace(replace(replace(replace(replace(replace(replace(replace(replace(
            lower(translate(value, 'АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯЎҚҒҲ', 'абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ')),
            'дж', 'j'), 'ж', 'j'), 'ш', 'sh'), 'щ', 'sh'), 'ч', 'ch'), 'ю', 'yu'), 'я', 'ya'), 'ц', 's'), 'ph', 'f'),
        'абвгдеёзийклмнопрстуфхыэўқғҳъь' || '''ʻʼ‘’`´',
        'abvgdeeziyklmnoprstufhieokgh'),
        'xq', 'hk'), '[^a-z0-9]+', ' ', 'g'))
$$;

ALTER TABLE products ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    ' ' || store_search_fold(name_uz) || ' ' || store_search_fold(COALESCE(name_ru, '')) || ' '
    || store_search_fold(sku) || ' '
) STORED;

CREATE INDEX idx_products_search_text_trgm ON products USING gin (search_text gin_trgm_ops);

ALTER TABLE banners ADD COLUMN image_url_ru TEXT;

-- (0010) a cart write in one round trip (store_cart_put)

CREATE FUNCTION store_cart_put(p_user INT, p_product INT, p_quantity INT, p_max_lines INT)
RETURNS TABLE (outcome TEXT, cart_item_id INT, cart_quantity INT, price_snapshot NUMERIC, product products)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    verdict TEXT := 'ok';
    target products;
    line_count INT;
    has_line BOOLEAN;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM users u WHERE u.id = p_user FOR NO KEY UPDATE;
    SELECT * INTO target FROM products p WHERE p.id = p_product;
    SELECT count(*), coalesce(bool_or(c.product_id = p_product), false) INTO line_count, has_line
    FROM cart_items c WHERE c.user_id = p_user;
    IF p_quantity <= 0 THEN
        DELETE FROM cart_items c WHERE c.user_id = p_user AND c.product_id = p_product;
        verdict := 'removed';
    ELSIF target.id IS NULL THEN
        verdict := 'not_found';
    ELSIF NOT target.is_active THEN
        verdict := 'not_sold';
    ELSIF target.stock_quantity <= 0 THEN
        verdict := 'sold_out';
    ELSIF p_quantity > target.stock_quantity THEN
        verdict := 'not_enough';
    ELSIF NOT has_line AND line_count >= p_max_lines THEN
        verdict := 'cart_full';
    ELSE
        INSERT INTO cart_items (user_id, product_id, quantity, price_snapshot)
        VALUES (p_user, p_product, p_quantity, COALESCE(target.sale_price, target.price))
        ON CONFLICT (user_id, product_id) DO UPDATE
        SET quantity = EXCLUDED.quantity, price_snapshot = EXCLUDED.price_snapshot;
    END IF;
    RETURN QUERY
        SELECT verdict, c.id, c.quantity, c.price_snapshot, p
        FROM cart_items c JOIN products p ON p.id = c.product_id
        WHERE c.user_id = p_user
        UNION ALL
        SELECT verdict, NULL::INT, NULL::INT, NULL::NUMERIC, target
        WHERE target.id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM cart_items c WHERE c.user_id = p_user AND c.product_id = p_product)
        ORDER BY 2 NULLS LAST;
    IF NOT FOUND THEN  -- no line and no such product: the verdict alone
        RETURN QUERY SELECT verdict, NULL::INT, NULL::INT, NULL::NUMERIC, NULL::products;
    END IF;
END
$$;
