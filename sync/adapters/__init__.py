"""One adapter per marketplace behind one small interface (sync.adapters.base.MarketplaceAdapter)."""
