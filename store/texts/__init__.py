"""Translation texts, one module per feature; store.i18n merges them into one catalog."""
