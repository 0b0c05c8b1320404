"""Texts of the Mini App (pages and API errors)."""

TEXTS: dict[str, dict[str, str]] = {}
