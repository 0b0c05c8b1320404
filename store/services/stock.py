"""The one way master stock changes. Cancellations, marketplace imports and admin edits call these
inside their own transaction, with `events.stock_changed` in it, so the marketplaces hear about
every change. The Mini App checkout takes its stock with the same statement (products.TAKE_FOR_SALE)
as one part of its single write (db/repos/sales.py), under the same locks and checks.
"""

from __future__ import annotations

from db.pool import Executor
from db.repos import products
from store.errors import Conflict, NotFound


class OutOfStock(Conflict):
    """Fewer units are left than asked for."""

    def __init__(self, product_id: int, sku: str, requested: int, available: int) -> None:
        super().__init__("error.out_of_stock", details={"available": {str(product_id): available}},
                         sku=sku, available=available, requested=requested)
        self.product_id, self.requested, self.available = product_id, requested, available


async def take(db: Executor, product_id: int, quantity: int, *, sku: str = "") -> int:
    """Take `quantity` units; returns the new stock. Raises OutOfStock and changes nothing if fewer
    are left. Needs a transaction (the caller's unit of work)."""
    if quantity <= 0:
        raise ValueError("quantity to take must be positive")
    left = await products.adjust_stock(db, product_id, -quantity)
    if left is None:
        product = await products.get(db, product_id)
        if product is None:
            raise NotFound("error.not_found")
        raise OutOfStock(product_id, sku or product.sku, quantity, product.stock_quantity)
    return left


async def give_back(db: Executor, product_id: int, quantity: int) -> int | None:
    """Return units (a cancelled order); None when the product no longer exists."""
    if quantity <= 0:
        raise ValueError("quantity to return must be positive")
    return await products.adjust_stock(db, product_id, quantity)


async def set_quantity(db: Executor, product_id: int, quantity: int) -> int:
    """An admin sets the stock to a counted value; returns the previous value."""
    if quantity < 0:
        raise ValueError("stock cannot be negative")
    previous = await products.set_stock(db, product_id, quantity)
    if previous is None:
        raise NotFound("error.not_found")
    return previous
