"""Marketplace sandboxes: local aiohttp servers that follow the real Uzum, Wildberries and Ozon
seller APIs (paths, auth, payloads, batch sizes, rate limits), keep their own in-memory state and
can be told to misbehave through the ``/_sandbox/`` control API or the state objects directly.

    from sync.sandbox import UzumState, uzum_app
    state = UzumState()
    app = uzum_app(state)          # serve with aiohttp (TestServer, AppRunner, ...)
    state.seed_catalog([...])      # same as POST /_sandbox/catalog
    state.inject_fault("429", 2)   # same as POST /_sandbox/faults

Run all three for manual use: ``python -m sync.sandbox --port-uzum 8701 --port-wb 8702 --port-ozon 8703``.
"""

from sync.sandbox.common import (
    ApiError,
    CallLog,
    CallRecord,
    FaultRule,
    LimitSpec,
    ManualClock,
    RunningSandbox,
    SandboxControl,
    SandboxError,
    SandboxState,
    start_sandbox,
)
from sync.sandbox.ozon import OZON_STATE, OzonState
from sync.sandbox.ozon import create_app as ozon_app
from sync.sandbox.uzum import UZUM_STATE, UzumState
from sync.sandbox.uzum import create_app as uzum_app
from sync.sandbox.wildberries import WB_STATE, WildberriesState
from sync.sandbox.wildberries import create_app as wildberries_app

__all__ = [
    "OZON_STATE",
    "UZUM_STATE",
    "WB_STATE",
    "ApiError",
    "CallLog",
    "CallRecord",
    "FaultRule",
    "LimitSpec",
    "ManualClock",
    "OzonState",
    "RunningSandbox",
    "SandboxControl",
    "SandboxError",
    "SandboxState",
    "UzumState",
    "WildberriesState",
    "ozon_app",
    "start_sandbox",
    "uzum_app",
    "wildberries_app",
]
