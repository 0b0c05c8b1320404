"""aiogram imported with its models built on first use (store/lean_aiogram.py): every model still
builds and validates, and the import no longer builds them all."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_store_imports_aiogram_without_building_its_models() -> None:
    out = _run("""
        import store, sys
        from aiogram.types.base import TelegramObject
        models, stack = [], [TelegramObject]
        while stack:
            cls = stack.pop(); stack.extend(cls.__subclasses__()); models.append(cls)
        built = [m for m in models if m.__pydantic_complete__]
        print(len(models), len(built))
    """)
    models, built = map(int, out.split())
    assert models > 400
    assert built < 10  # not the ~440 Telegram types an eager import builds


def test_every_aiogram_model_builds_and_validates_on_first_use() -> None:
    """Each model, built first on its own (as a store process meets it), in a fresh interpreter."""
    out = _run("""
        import inspect
        import store
        from aiogram.types.base import TelegramObject
        from aiogram.methods.base import TelegramMethod
        from pydantic import ValidationError
        models, stack = [], [TelegramObject, TelegramMethod]
        while stack:
            cls = stack.pop(); stack.extend(cls.__subclasses__()); models.append(cls)
        failed = []
        for cls in models:
            if cls.__pydantic_generic_metadata__["parameters"] or inspect.isabstract(cls):
                continue  # TelegramMethod and its parametrisations: only the concrete methods are used
            try:
                cls.model_validate({})
            except ValidationError:
                pass  # required fields missing: it built and validated
            except Exception as exc:
                failed.append(f"{cls.__module__}.{cls.__qualname__}: {exc!r}"[:300])
        print(len(models)); print("\\n".join(failed))
    """)
    count, *failed = out.strip().split("\n")
    assert int(count) > 400 and not [f for f in failed if f], failed[:10]


def test_a_message_from_telegram_is_read_with_its_nested_types() -> None:
    out = _run("""
        import store
        from aiogram.types import Update
        update = Update.model_validate({"update_id": 7, "callback_query": {
            "id": "1", "chat_instance": "c", "data": "order:AS-2026-000001",
            "from": {"id": 5, "is_bot": False, "first_name": "Ali", "language_code": "uz"},
            "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"},
                        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90}],
                        "reply_markup": {"inline_keyboard": [[{"text": "OK", "callback_data": "x"}]]}}}})
        print(update.callback_query.data, update.callback_query.message.photo[0].width,
              update.callback_query.message.reply_markup.inline_keyboard[0][0].text)
        # what the Bot API answers a sendMessage, read the way aiogram reads it (a generic made on first use)
        from aiogram.methods.base import Response
        from aiogram.types import Message
        sent = Response[Message].model_validate({"ok": True, "result": {
            "message_id": 9, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "Salom"}})
        print(sent.result.chat.id, sent.result.text)
    """)
    assert out.split() == ["order:AS-2026-000001", "90", "OK", "5", "Salom"]
