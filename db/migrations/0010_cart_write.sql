-- 0010: a cart write in one round trip (issue #11, "fewer round trips per cart write").
-- Reason: a cart write was five round trips from the store to PostgreSQL (BEGIN, the customer's row
-- lock, one read of the cart and the product, one upsert, COMMIT), three of them per order in the
-- Mini App; each costs the store process and PostgreSQL CPU (the bench measured the store's asyncpg
-- calls as the largest share of its time). One statement cannot do it exactly: a statement reads with
-- the snapshot taken when it began, so a cart read in the statement that waited for the customer's
-- lock would miss what the lock's holder (a checkout, another cart write) had just committed. A
-- VOLATILE function takes a fresh snapshot for each statement it runs, so here the lock is taken
-- first and everything after it sees what was committed before it: the same order of events as the
-- five round trips, in one call. The rules of a cart line are here, once (the service maps the
-- outcome to its error): quantity 0 removes the line; otherwise the product must exist, be on sale
-- and have the units, and a new line must fit under the cart's line limit. The answer is the cart as
-- it is after the write, in the order lines were first added, and the product itself when it is not
-- in the cart (for the error's name and units). The transaction commits without waiting for the
-- disk (synchronous_commit off, for this transaction only: a cart line is not money).

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
