"""A fake Telegram Bot API server for the bot's tests, over real HTTP.

aiogram is pointed at it with `TELEGRAM_API_URL` (`TelegramAPIServer.from_base` builds
`{base}/bot{token}/{method}` and `{base}/file/bot{token}/{path}`). The fake:

* answers the methods the bot calls (getMe, getUpdates as a real long poll fed by the test,
  sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery, sendDocument and
  sendPhoto with multipart uploads, getFile plus the file download path, setChatMenuButton, setMyCommands,
  setWebhook, deleteWebhook, ...), keeping the messages it "sent" so callbacks can refer to them;
* records every call with its parsed parameters (`calls`), in order;
* misbehaves on request: the next N calls of a method answer 429 with `retry_after`, 401 or 5xx
  (`fail_next`), and a chat can block the bot (403 "bot was blocked by the user", `block`).

Tests feed updates with `send_text`, `click`, `send_document` and `send_photo` and wait for what the bot sent
with `wait_for` (polls the recorded calls; never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

BOT_ID = 123456789
TOKEN = f"{BOT_ID}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
BOT_USERNAME = "amazing_test_bot"

# Parameters aiogram sends JSON-encoded (objects, lists) or as numbers; everything else stays text.
_JSON_PARAMS = {"reply_markup", "allowed_updates", "commands", "scope", "menu_button", "link_preview_options",
                "entities", "caption_entities", "reply_parameters", "prices"}
_INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "max_connections"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # param -> (filename, content)
    status: int = 200
    received_at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button of the call's reply_markup, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def button(self, text_part: str) -> dict[str, Any]:
        for button in self.buttons:
            if text_part in button["text"]:
                return button
        raise AssertionError(f"no button containing {text_part!r} in {self.buttons}")


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.tokens_seen: set[str] = set()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._faults: list[_Fault] = []
        self.blocked: set[int] = set()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, message_id) -> Message
        self.server: TestServer | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self.server = TestServer(app)
        await self.server.start_server()
        self.url = str(self.server.make_url("")).rstrip("/")
        return self.url

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    # --- faults ---------------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, *, times: int = 1, retry_after: int | None = None,
                  chat_id: int | None = None) -> None:
        descriptions = {429: f"Too Many Requests: retry after {retry_after}", 401: "Unauthorized",
                        500: "Internal Server Error", 502: "Bad Gateway", 400: "Bad Request: chat not found"}
        self._faults.append(_Fault(method, status, descriptions.get(status, "Error"), retry_after, times, chat_id))

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def _fault_for(self, method: str, params: dict[str, Any]) -> web.Response | None:
        chat = params.get("chat_id")
        if method.startswith("send") and chat is not None and int(chat) in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        for fault in self._faults:
            if fault.remaining <= 0 or fault.method not in (method, "*"):
                continue
            if fault.chat_id is not None and (chat is None or int(chat) != fault.chat_id):
                continue
            fault.remaining -= 1
            return _error(fault.status, fault.description, fault.retry_after)
        return None

    # --- updates the test feeds -------------------------------------------------------------------

    async def feed(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        async with self._new_update:
            self._updates.append(update)
            self._new_update.notify_all()
        return update

    def webhook_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """An update with an id, for posting to the bot's webhook instead of long polling."""
        return {"update_id": next(self._update_ids), **update}

    def message_update(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": user,
                   "chat": _private_chat(user), "text": text}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    async def send_text(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        return await self.feed(self.message_update(user, text))

    async def click(self, user: dict[str, Any], sent: Call, data: str) -> dict[str, Any]:
        """The user presses an inline button with callback `data` under the message `sent` carried."""
        message = self.messages[(int(sent.params["chat_id"]), sent.params.get("_message_id", 0))]
        return await self.feed({"callback_query": {
            "id": str(next(self._message_ids)), "from": user, "chat_instance": "ci", "data": data,
            "message": message,
        }})

    def add_file(self, content: bytes, file_name: str) -> str:
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = (f"documents/{file_id}-{file_name}", content)
        return file_id

    async def send_document(self, user: dict[str, Any], content: bytes, file_name: str,
                            mime_type: str = "text/csv") -> dict[str, Any]:
        file_id = self.add_file(content, file_name)
        return await self.feed({"message": {
            "message_id": next(self._message_ids), "date": int(time.time()), "from": user,
            "chat": _private_chat(user),
            "document": {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
                         "mime_type": mime_type, "file_size": len(content)},
        }})

    async def send_photo(self, user: dict[str, Any], sizes: list[tuple[bytes, int, int]], caption: str | None = None,
                         reply_to: Call | None = None) -> dict[str, Any]:
        """A photo as Telegram delivers one: `sizes` (content, width, height), smallest first, each a
        file of its own; `reply_to` a message the bot sent (the admin answers it)."""
        photo = []
        for content, width, height in sizes:
            file_id = self.add_file(content, "photo.jpg")
            photo.append({"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width, "height": height,
                          "file_size": len(content)})
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "from": user,
                                   "chat": _private_chat(user), "photo": photo}
        if caption is not None:
            message["caption"] = caption
        if reply_to is not None:
            message["reply_to_message"] = self.messages[(int(reply_to.params["chat_id"]),
                                                         reply_to.params.get("_message_id", 0))]
        return await self.feed({"message": message})

    # --- payments (issue #10): what Telegram sends around an invoice ------------------------------

    async def pre_checkout_query(self, user: dict[str, Any], payload: str, total_amount: int,
                                 currency: str = "UZS") -> str:
        """The user confirmed an invoice; Telegram asks the bot whether to charge. Returns the query id."""
        query_id = f"pcq-{next(self._message_ids)}"
        await self.feed({"pre_checkout_query": {"id": query_id, "from": user, "currency": currency,
                                                "total_amount": total_amount, "invoice_payload": payload}})
        return query_id

    async def successful_payment(self, user: dict[str, Any], payload: str, total_amount: int,
                                 telegram_charge_id: str, provider_charge_id: str,
                                 currency: str = "UZS") -> dict[str, Any]:
        """The charge went through: a service message with `successful_payment` in the user's chat."""
        return await self.feed({"message": {
            "message_id": next(self._message_ids), "date": int(time.time()), "from": user,
            "chat": _private_chat(user),
            "successful_payment": {"currency": currency, "total_amount": total_amount, "invoice_payload": payload,
                                   "telegram_payment_charge_id": telegram_charge_id,
                                   "provider_payment_charge_id": provider_charge_id},
        }})

    # --- what the bot sent ----------------------------------------------------------------------

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls
                if c.method == method and c.status == 200 and (chat_id is None or c.chat_id == chat_id)]

    async def wait_for(self, predicate: Callable[[Call], bool], *, what: str = "a call",
                       timeout: float = 30.0) -> Call:
        """The first recorded call matching `predicate`, waiting (polling) until it appears."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls:
                if predicate(call):
                    return call
            if time.monotonic() > deadline:
                recent = [(c.method, c.status, c.params.get("chat_id"), c.text[:80]) for c in self.calls[-15:]]
                raise AssertionError(f"timed out waiting for {what}; recent calls: {recent}")
            await asyncio.sleep(0.02)

    async def wait_sent(self, chat_id: int, contains: str = "", *, method: str = "sendMessage",
                        after: int = 0, timeout: float = 30.0) -> Call:
        """The first successful `method` to `chat_id` whose text contains `contains`, from call `after` on."""
        def matches(call: Call) -> bool:
            return (call.method == method and call.status == 200 and call.chat_id == chat_id
                    and contains in call.text and self.calls.index(call) >= after)

        return await self.wait_for(matches, what=f"{method} to {chat_id} containing {contains!r}",
                                   timeout=timeout)

    def mark(self) -> int:
        """The index the next recorded call will have (for `wait_sent(after=...)`)."""
        return len(self.calls)

    # --- the Bot API ------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        self.tokens_seen.add(request.match_info["token"])
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files)
        fault = self._fault_for(method, params)
        if fault is not None:
            call.status = fault.status
            self.calls.append(call)
            return fault
        self.calls.append(call)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found: method not found")
        result = handler(call)
        return _ok(result)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = min(float(params.get("timeout") or 0), 5.0)
        async with self._new_update:
            if not self._updates and timeout > 0:
                try:
                    await asyncio.wait_for(self._new_update.wait(), timeout)
                except TimeoutError:
                    pass
            return list(self._updates)

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Amazing Store", "username": BOT_USERNAME}

    def _m_getMe(self, call: Call) -> dict[str, Any]:
        return {**self._bot_user(), "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _new_message(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = int(call.params["chat_id"])
        message_id = next(self._message_ids)
        message = {"message_id": message_id, "date": int(time.time()), "from": self._bot_user(),
                   "chat": {"id": chat_id, "type": "private", "first_name": "User"}, **content}
        if call.params.get("reply_markup"):
            message["reply_markup"] = call.params["reply_markup"]
        call.params["_message_id"] = message_id
        self.messages[(chat_id, message_id)] = message
        return message

    def _m_sendMessage(self, call: Call) -> dict[str, Any]:
        return self._new_message(call, text=call.params.get("text", ""))

    def _m_sendDocument(self, call: Call) -> dict[str, Any]:
        ref = str(call.params.get("document", ""))
        name, content = call.files.get(ref.removeprefix("attach://"), ("document", b""))
        file_id = self.add_file(content, name)
        return self._new_message(call, caption=call.params.get("caption", ""), document={
            "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name, "file_size": len(content)})

    def _m_sendPhoto(self, call: Call) -> dict[str, Any]:
        ref = str(call.params.get("photo", ""))
        name, content = call.files.get(ref.removeprefix("attach://"), ("photo.jpg", b""))
        file_id = self.add_file(content, name) if content else ref  # an uploaded file, or a file_id / URL
        return self._new_message(call, caption=call.params.get("caption", ""), photo=[
            {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 0, "height": 0,
             "file_size": len(content)}])

    def _edit(self, call: Call, **changes: Any) -> dict[str, Any] | bool:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            return True
        message.update(changes)
        if call.params.get("reply_markup"):
            message["reply_markup"] = call.params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        call.params["_message_id"] = key[1]
        return message

    def _m_editMessageText(self, call: Call) -> dict[str, Any] | bool:
        return self._edit(call, text=call.params.get("text", ""))

    def _m_editMessageReplyMarkup(self, call: Call) -> dict[str, Any] | bool:
        return self._edit(call)

    def _m_getFile(self, call: Call) -> dict[str, Any]:
        file_id = str(call.params["file_id"])
        path, content = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(content), "file_path": path}

    async def _handle_file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content)
        raise web.HTTPNotFound()

    def _m_answerCallbackQuery(self, call: Call) -> bool:
        return True

    def _m_setChatMenuButton(self, call: Call) -> bool:
        return True

    def _m_setMyCommands(self, call: Call) -> bool:
        return True

    def _m_setWebhook(self, call: Call) -> bool:
        return True

    def _m_deleteWebhook(self, call: Call) -> bool:
        return True

    def _m_createInvoiceLink(self, call: Call) -> str:
        return f"https://t.me/$invoice-{next(self._message_ids)}"

    def _m_answerPreCheckoutQuery(self, call: Call) -> bool:
        return True

    def _m_getWebhookInfo(self, call: Call) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


def user(telegram_id: int, language_code: str = "uz", first_name: str = "Aziz") -> dict[str, Any]:
    return {"id": telegram_id, "is_bot": False, "first_name": first_name, "language_code": language_code}


def _private_chat(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    raw: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if request.content_type == "application/json":
        raw = await request.json()
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            if part.name is None:
                continue
            if part.filename is not None:
                files[part.name] = (part.filename, bytes(await part.read()))
            else:
                raw[part.name] = await part.text()
    else:
        raw = dict(await request.post()) if request.can_read_body else {}
        raw.update(request.query)
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and key in _JSON_PARAMS:
            params[key] = json.loads(value)
        elif isinstance(value, str) and key in _INT_PARAMS and value.lstrip("-").isdigit():
            params[key] = int(value)
        else:
            params[key] = value
    return params, files
