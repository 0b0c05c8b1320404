"""Outgoing Telegram messages, sent by arq jobs (registered in sync.worker)."""

from __future__ import annotations

from typing import Any

FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = []
