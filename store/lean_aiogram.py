"""Import aiogram without building every Telegram type's validator at import time.

Measured (aiogram 3.31, pydantic 2.13, this machine): `import aiogram` grows a process by ~134 MB,
of which ~110 MB is `aiogram.types` calling `model_rebuild()` on each of its ~440 models at import,
so that pydantic builds a complete validator and serializer for every one of them, each with every
type it nests inlined (a Message reaches nearly all of them). aiogram itself marks its models
`defer_build=True`; that rebuild loop exists only to give them the names they refer to (each types
module imports its neighbours under TYPE_CHECKING). The store validates a handful of them (Update,
Message, User, the results of the calls the bot makes).

`import_lean()` imports aiogram with that loop recorded instead of run, then gives every aiogram
model (types and methods, and those defined later) that namespace as its
`__pydantic_parent_namespace__`, which pydantic consults when it builds a deferred model on first
use (and for the models nested in it). A model is then built the first time it is used (Update:
~4 MB and ~0.15 s, once per process). The whole aiogram surface the store uses is exercised by
the bot's tests through a fake Bot API server. If pydantic or aiogram change so that this does not
hold (no `model_rebuild` to record, a model not resolvable), `import_lean` builds every recorded
model the usual way before returning: never a half-imported aiogram, only the larger footprint.

Called first by `store/__init__.py`, so every entry point (the store, the worker, the bench and the
tests) imports aiogram this way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def import_lean() -> bool:
    """Import aiogram with its models' validators built on first use; True when deferred."""
    if "aiogram" in sys.modules:
        return False
    from pydantic import BaseModel

    original = BaseModel.__dict__.get("model_rebuild")
    if not isinstance(original, classmethod):
        import aiogram

        return False
    recorded: list[tuple[type[BaseModel], dict[str, Any]]] = []

    def record(cls: type[BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any) -> Any:
        if isinstance(_types_namespace, dict) and cls.__module__.startswith("aiogram.") and not args and not kwargs:
            recorded.append((cls, _types_namespace))
            return None
        return original.__func__(cls, *args, _types_namespace=_types_namespace, **kwargs)

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[arg-type,assignment,method-assign]
    try:
        import aiogram
        import aiogram.types
        import aiogram.utils.web_app  # noqa: F401
    finally:
        BaseModel.model_rebuild = original  # type: ignore[assignment,method-assign]
    try:
        if not recorded:
            return False
        namespace = recorded[0][1]
        _give_namespace(namespace)
        # Fail here, at start-up, rather than on the first update: the root of what Telegram sends.
        from aiogram.types import Update

        Update.model_validate({"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
            "from": {"id": 1, "is_bot": False, "first_name": "x"}, "text": "/start"}})
    except Exception:  # pragma: no cover - only when a new pydantic or aiogram changes the internals
        log.warning("aiogram: deferred models did not build; building all of them now", exc_info=True)
        for cls, types_namespace in recorded:
            cls.model_rebuild(_types_namespace=types_namespace)
        return False
    return True


def _give_namespace(namespace: dict[str, Any]) -> None:
    """Every aiogram model (types, methods, their generic responses, and those created later such as
    `Response[Message]`) resolves its names in the types namespace when pydantic builds it, as the
    model being built or as one nested in it (pydantic resolves a nested model's names in the
    namespace of the one it builds)."""
    from pydantic import BaseModel

    def is_aiogram(cls: type[Any]) -> bool:
        return cls.__module__.startswith("aiogram.")

    def with_namespace(cls: type[BaseModel]) -> None:
        own = cls.__dict__.get("__pydantic_parent_namespace__")
        cls.__pydantic_parent_namespace__ = namespace if not own else {**namespace, **own}

    def hook(cls: type[BaseModel], **kwargs: Any) -> None:
        with_namespace(cls)

    stack: list[type[Any]] = list(BaseModel.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not is_aiogram(cls):
            continue
        if not cls.__pydantic_complete__:
            with_namespace(cls)
        if not any(is_aiogram(base) and issubclass(base, BaseModel) for base in cls.__bases__):
            # a root of aiogram's models: the subclasses made from now on get the namespace too
            cls.__pydantic_init_subclass__ = classmethod(hook)  # type: ignore[arg-type]
