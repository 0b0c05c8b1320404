"""Marketplace accounts and mappings: adding a marketplace, its API key (stored only encrypted),
its settings, mapping our SKUs to the marketplace's items (from a CSV file or automatically from the
marketplace's catalogue) and re-encrypting every key after a key rotation.

Used by the `amazing-store marketplace ...` / `secrets rotate` commands; the sync itself lives in
`store.services.marketplace_sync`. Messages are for the person at the terminal and never contain a
secret.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import SecretStr

from db.models import Marketplace, MarketplaceProduct, Product
from db.pool import Executor
from db.repos import marketplace_products, marketplaces, products, sync_logs
from store.crypto import KeyBox, SecretKeyError, new_key
from store.settings import Settings
from sync.adapters.base import Account, CatalogItem, MarketplaceAdapter

log = logging.getLogger(__name__)

LOCAL_SECRET_KEY_FILE = "local-secret-key"  # noqa: S105  # a file name, not a secret
MAX_SLUG = 20  # orders.source is VARCHAR(20) and holds the slug of imported orders
_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
MAX_MAP_ROWS = 50_000
MAX_MAP_BYTES = 10 * 1024 * 1024

AdapterFactory = Callable[[Account], MarketplaceAdapter]


class AdminError(Exception):
    """A request an admin made cannot be done; the message says what is wrong and what to do."""


# --- what each marketplace needs ---------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    name: str  # the key in marketplace_keys (sync.adapters.base.MarketplaceKeys)
    kind: str  # int, str, list (barcodes)
    column: str  # the CSV column
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarketplaceSpec:
    """The keys a mapping needs, which of them names the item / the card, and the settings."""

    slug: str
    required: tuple[KeySpec, ...]
    optional: tuple[KeySpec, ...]
    item_key: str  # goes to marketplace_sku (unique per marketplace)
    card_key: str | None  # goes to marketplace_product_id
    settings: Mapping[str, str]  # setting name -> kind (int, str)
    required_settings: tuple[str, ...]
    order_prefix: str  # order numbers of imported orders: UZ-2026-000123
    match_keys: tuple[str, ...]  # order line keys that identify our product, most specific first

    @property
    def keys(self) -> tuple[KeySpec, ...]:
        return self.required + self.optional

    def csv_columns(self) -> str:
        required = ", ".join(k.column for k in self.required)
        optional = ", ".join(k.column for k in self.optional)
        return f"sku, {required}" + (f" [optional: {optional}, url]" if optional else " [optional: url]")


SPECS: dict[str, MarketplaceSpec] = {
    "uzum": MarketplaceSpec(
        slug="uzum",
        required=(KeySpec("product_id", "int", "product_id", ("productid",)),
                  KeySpec("sku_id", "int", "sku_id", ("skuid",)),
                  KeySpec("barcode", "str", "barcode")),
        optional=(KeySpec("seller_sku", "str", "seller_sku", ("selleritemcode", "sellerskucode")),),
        item_key="sku_id", card_key="product_id",
        settings={"shop_id": "int", "shop_ids": "json", "daily_reserve": "int"}, required_settings=("shop_id",),
        order_prefix="UZ", match_keys=("sku_id", "barcode"),
    ),
    "wildberries": MarketplaceSpec(
        slug="wildberries",
        required=(KeySpec("nm_id", "int", "nm_id", ("nmid",)), KeySpec("chrt_id", "int", "chrt_id", ("chrtid",))),
        optional=(KeySpec("vendor_code", "str", "vendor_code", ("vendorcode",)),
                  KeySpec("barcodes", "list", "barcodes", ("barcode", "skus"))),
        item_key="chrt_id", card_key="nm_id",
        settings={"warehouse_id": "int", "hosts": "json"}, required_settings=("warehouse_id",),
        order_prefix="WB", match_keys=("chrt_id", "nm_id"),
    ),
    "ozon": MarketplaceSpec(
        slug="ozon",
        required=(KeySpec("offer_id", "str", "offer_id", ("offerid",)),),
        optional=(KeySpec("product_id", "int", "product_id", ("productid",)),
                  KeySpec("sku", "int", "ozon_sku", ("ozonsku",))),
        item_key="offer_id", card_key="product_id",
        # warehouse_id may be left out: an account with exactly one FBS warehouse uses it (the adapter asks)
        settings={"client_id": "str", "warehouse_id": "int"}, required_settings=("client_id",),
        order_prefix="OZ", match_keys=("offer_id", "sku", "product_id"),
    ),
}
# Settings every marketplace may carry besides its own: the cabinet's currency (Ozon: letters such as
# UZS; Wildberries: ISO 4217 numeric or letters) and rate limits that differ from the documented ones
# ({"group": {"requests", "period", "burst"}}, see sync.ratelimit).
# `reconcile_interval`: minutes between drift reconcile runs (default a day, see marketplace_sync).
COMMON_SETTINGS = {"currency_code": "str", "rate_limits": "json", "reconcile_interval": "int"}


def spec_for(slug: str) -> MarketplaceSpec:
    spec = SPECS.get(slug)
    if spec is None:
        raise AdminError(f"there is no sync for marketplace '{slug}'; supported: {', '.join(SPECS)}")
    return spec


def identity(spec: MarketplaceSpec, keys: Mapping[str, Any]) -> tuple[str, str | None]:
    """(marketplace_sku, marketplace_product_id) of a mapping from its keys."""
    card = keys.get(spec.card_key) if spec.card_key else None
    return str(keys[spec.item_key]), None if card is None else str(card)


def _coerce(kind: str, raw: object, what: str) -> Any:
    """A key value from a CSV cell or a marketplace answer, in the type the adapters expect."""
    if kind == "int":
        text = str(raw).strip()
        if isinstance(raw, bool) or not text.lstrip("-").isdigit() or int(text) <= 0:
            raise AdminError(f"{what} must be a positive whole number, got {text[:30]!r}")
        return int(text)
    if kind == "json":
        if not isinstance(raw, str):
            return raw
        try:
            value = json.loads(raw)
        except ValueError:
            raise AdminError(f"{what} must be JSON, e.g. {{\"default\": {{\"requests\": 3, \"period\": 1, "
                             f"\"burst\": 5}}}}") from None
        if not isinstance(value, dict | list):
            raise AdminError(f"{what} must be a JSON object or list")
        return value
    if kind == "list":
        items = raw if isinstance(raw, list | tuple) else re.split(r"[|;,\s]+", str(raw))
        values = [str(v).strip() for v in items if str(v).strip()]
        if any(len(v) > 100 for v in values):
            raise AdminError(f"{what}: a value is longer than 100 characters")
        return values
    text = str(raw).strip()
    if not text or len(text) > 100 or any(c.isspace() for c in text):
        raise AdminError(f"{what} must be 1..100 characters without spaces, got {text[:30]!r}")
    return text


def normalize_keys(spec: MarketplaceSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check and type a mapping's keys; raises AdminError naming the first problem."""
    keys: dict[str, Any] = {}
    for key in spec.required:
        value = raw.get(key.name)
        if value is None or str(value).strip() == "":
            raise AdminError(f"{key.column} is required for {spec.slug}")
        keys[key.name] = _coerce(key.kind, value, key.column)
    for key in spec.optional:
        value = raw.get(key.name)
        if value is not None and (not isinstance(value, str) or value.strip()):
            coerced = _coerce(key.kind, value, key.column)
            if coerced != []:
                keys[key.name] = coerced
    if spec.slug == "ozon" and len(keys["offer_id"]) > 50:
        raise AdminError("offer_id is at most 50 characters on Ozon")
    return keys


# --- API keys at rest --------------------------------------------------------------------------


def local_secret_key(data_dir: Path) -> str:
    """The Fernet key local mode encrypts with when SECRET_KEYS is empty, generated once per DATA_DIR."""
    path = data_dir / LOCAL_SECRET_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    path.write_text(key)
    path.chmod(0o600)
    return key


def keybox_for(settings: Settings) -> KeyBox:
    """SECRET_KEYS (the first encrypts, all decrypt). Local mode without SECRET_KEYS uses a key
    generated once under DATA_DIR; when that file exists it stays a decrypt-only key, so that keys
    stored in local mode can be moved to SECRET_KEYS with `amazing-store secrets rotate`."""
    keys = list(settings.secret_keys)
    local_path = settings.data_dir / LOCAL_SECRET_KEY_FILE
    if not keys and settings.local_mode:
        keys.append(SecretStr(local_secret_key(settings.data_dir)))
    elif local_path.exists():
        local = local_path.read_text().strip()
        if local and local not in {k.get_secret_value() for k in keys}:
            keys.append(SecretStr(local))
    return KeyBox(tuple(keys))


def account_for(marketplace: Marketplace, keybox: KeyBox) -> Account:
    """The decrypted account an adapter talks with; AdminError says what is missing."""
    spec = spec_for(marketplace.slug)
    if not marketplace.api_key_encrypted:
        raise AdminError(f"{marketplace.slug} has no API key: run "
                         f"`amazing-store marketplace set-key {marketplace.slug}`")
    if not marketplace.api_base_url:
        raise AdminError(f"{marketplace.slug} has no API address (api_base_url)")
    missing = [name for name in spec.required_settings if marketplace.settings.get(name) in (None, "")]
    if missing:
        hint = " ".join(f"{name}=..." for name in missing)
        raise AdminError(f"{marketplace.slug} needs {', '.join(missing)}: run "
                         f"`amazing-store marketplace set {marketplace.slug} {hint}`")
    try:
        secret = keybox.decrypt(marketplace.api_key_encrypted)
    except SecretKeyError as exc:
        raise AdminError(f"{marketplace.slug}: {exc}") from None
    return Account(marketplace.slug, marketplace.api_base_url.rstrip("/"), secret, dict(marketplace.settings),
                   id=marketplace.id)


# --- marketplaces ------------------------------------------------------------------------------


async def get_marketplace(db: Executor, slug: str) -> Marketplace:
    marketplace = await marketplaces.get_by_slug(db, slug)
    if marketplace is None:
        known = ", ".join(m.slug for m in await marketplaces.list_all(db)) or "none yet"
        raise AdminError(f"no marketplace '{slug}' (known: {known}); add it with `amazing-store marketplace add`")
    return marketplace


def _check_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url) or len(url) > 500:
        raise AdminError(f"api base url must be an http:// or https:// address, got {url[:60]!r}")
    return url


def parse_settings(spec: MarketplaceSpec, pairs: Mapping[str, str]) -> dict[str, Any]:
    """Setting values from text (the command line) in their types; unknown names are refused."""
    allowed = {**COMMON_SETTINGS, **spec.settings}
    values: dict[str, Any] = {}
    for name, raw in pairs.items():
        kind = allowed.get(name)
        if kind is None:
            raise AdminError(f"unknown setting '{name}' for {spec.slug}; known: {', '.join(sorted(allowed))}")
        values[name] = _coerce(kind, raw, name)
    return values


async def add_marketplace(
    pool: asyncpg.Pool, *, slug: str, name: str, api_base_url: str, settings: Mapping[str, str] | None = None,
    sync_interval_minutes: int = 60,
) -> Marketplace:
    """A new marketplace account (active, auto sync on). Its API key is set separately."""
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise AdminError(f"slug must be lowercase letters, digits, '-' or '_', 1..{MAX_SLUG} characters")
    spec = spec_for(slug)
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise AdminError("name must be 1..100 characters")
    if not 1 <= sync_interval_minutes <= 24 * 60:
        raise AdminError("the sync interval must be 1..1440 minutes")
    values = parse_settings(spec, settings or {})
    async with pool.acquire() as conn, conn.transaction():
        if await marketplaces.get_by_slug(conn, slug) is not None:
            raise AdminError(f"marketplace '{slug}' already exists")
        return await marketplaces.create(conn, name=name, slug=slug, api_base_url=_check_url(api_base_url),
                                         sync_interval_minutes=sync_interval_minutes, settings=values)


async def set_api_key(pool: asyncpg.Pool, keybox: KeyBox, slug: str, secret: str) -> Marketplace:
    """Store the API key encrypted. For Ozon the secret is CLIENT_ID:API_KEY: the Client-Id (an
    account number, not a secret) goes to the settings, only the key is encrypted."""
    secret = secret.strip()
    if not secret or any(c.isspace() for c in secret) or len(secret) > 4096:
        raise AdminError("the API key is empty or has spaces or line breaks inside")
    async with pool.acquire() as conn, conn.transaction():
        marketplace = await get_marketplace(conn, slug)
        settings = dict(marketplace.settings)
        if marketplace.slug == "ozon":
            client_id, sep, api_key = secret.partition(":")
            if not sep or not client_id.isdigit() or not api_key:
                raise AdminError("for Ozon give CLIENT_ID:API_KEY (the Client-Id is a number)")
            settings["client_id"] = client_id
            secret = api_key
        try:
            encrypted = keybox.encrypt(secret)
        except SecretKeyError as exc:
            raise AdminError(str(exc)) from None
        await marketplaces.set_api_key(conn, marketplace.id, encrypted)
        return await marketplaces.update(conn, marketplace.id, settings=settings)


async def set_active(pool: asyncpg.Pool, slug: str, active: bool) -> Marketplace:
    async with pool.acquire() as conn, conn.transaction():
        marketplace = await get_marketplace(conn, slug)
        await marketplaces.set_active(conn, marketplace.id, active)
        return await get_marketplace(conn, slug)


_ON = {"1", "on", "yes", "true"}
_OFF = {"0", "off", "no", "false"}


async def configure(pool: asyncpg.Pool, slug: str, changes: Mapping[str, str]) -> Marketplace:
    """Change settings from NAME=VALUE pairs: `interval` (minutes), `auto_sync` (on/off), `url`, `name`,
    or a marketplace setting (shop_id, warehouse_id, currency, ...); an empty value removes a setting."""
    async with pool.acquire() as conn, conn.transaction():
        marketplace = await get_marketplace(conn, slug)
        spec = spec_for(marketplace.slug)
        settings = dict(marketplace.settings)
        interval: int | None = None
        auto_sync: bool | None = None
        url: str | None = None
        name: str | None = None
        plain: dict[str, str] = {}
        for key, value in changes.items():
            if key == "interval":
                if not value.strip().isdigit() or not 1 <= int(value) <= 24 * 60:
                    raise AdminError("interval must be 1..1440 minutes")
                interval = int(value)
            elif key == "auto_sync":
                if value.strip().lower() not in _ON | _OFF:
                    raise AdminError("auto_sync must be on or off")
                auto_sync = value.strip().lower() in _ON
            elif key == "url":
                url = _check_url(value)
            elif key == "name":
                name = " ".join(value.split())
                if not name or len(name) > 100:
                    raise AdminError("name must be 1..100 characters")
            elif value.strip() == "":
                if key not in {**COMMON_SETTINGS, **spec.settings}:
                    raise AdminError(f"unknown setting '{key}'")
                settings.pop(key, None)
            else:
                plain[key] = value
        settings.update(parse_settings(spec, plain))
        return await marketplaces.update(conn, marketplace.id, name=name, api_base_url=url, settings=settings,
                                         auto_sync_enabled=auto_sync, sync_interval_minutes=interval)


@dataclass(frozen=True)
class MarketplaceView:
    marketplace: Marketplace
    key_set: bool
    mappings: int
    last_status: dict[str, str]  # sync type -> status of its latest run


async def list_marketplaces(db: Executor) -> list[MarketplaceView]:
    latest: dict[int, dict[str, str]] = {}
    for entry in await sync_logs.latest_per_type(db):
        latest.setdefault(entry.marketplace_id, {})[entry.sync_type] = entry.status
    return [
        MarketplaceView(m, bool(m.api_key_encrypted), await marketplace_products.count_for_marketplace(db, m.id),
                        latest.get(m.id, {}))
        for m in await marketplaces.list_all(db)
    ]


async def rotate_keys(pool: asyncpg.Pool, keybox: KeyBox) -> int:
    """Re-encrypt every stored API key under the first key, all or nothing; returns how many."""
    try:
        keybox.encrypt("probe")
    except SecretKeyError as exc:
        raise AdminError(str(exc)) from None
    async with pool.acquire() as conn, conn.transaction():
        stored = await marketplaces.lock_with_keys(conn)
        for marketplace in stored:
            assert marketplace.api_key_encrypted is not None
            try:
                rotated = keybox.rotate(marketplace.api_key_encrypted)
            except SecretKeyError:
                raise AdminError(
                    f"the API key of {marketplace.slug} cannot be decrypted with any key in SECRET_KEYS: "
                    "keep the old key in the list (after the new one) and try again") from None
            await marketplaces.set_api_key(conn, marketplace.id, rotated)
        return len(stored)


# --- mapping -----------------------------------------------------------------------------------


@dataclass
class MapReport:
    mapped: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)  # "row 5: ..." (the header is row 1)


def _decode(data: bytes) -> str:
    if len(data) > MAX_MAP_BYTES:
        raise AdminError(f"the file is larger than {MAX_MAP_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1251")
        except UnicodeDecodeError:
            raise AdminError("the file is not text (UTF-8 or Windows-1251)") from None


OUR_SKU, URL = " our sku", " url"  # not a key name any marketplace uses


def _header_names(spec: MarketplaceSpec, header: Sequence[str]) -> list[str]:
    """CSV header cells -> key names (OUR_SKU and URL for ours and the product page)."""
    by_alias: dict[str, str] = {"sku": OUR_SKU, "our_sku": OUR_SKU, "url": URL}
    for key in spec.keys:
        by_alias[key.column] = key.name
        for alias in key.aliases:
            by_alias[alias] = key.name
    names = []
    for cell in header:
        label = cell.strip().lower().replace(" ", "_")
        if label not in by_alias:
            raise AdminError(f"unknown column '{cell.strip()[:40]}'; {spec.slug} columns: {spec.csv_columns()}")
        names.append(by_alias[label])
    if OUR_SKU not in names:
        raise AdminError(f"the header has no 'sku' column; {spec.slug} columns: {spec.csv_columns()}")
    missing = [k.column for k in spec.required if k.name not in names]
    if missing:
        raise AdminError(f"missing column(s) {', '.join(missing)}; {spec.slug} columns: {spec.csv_columns()}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AdminError(f"column(s) given twice: {', '.join(duplicates)}")
    return names


@dataclass(frozen=True)
class _PlannedMapping:
    row: int
    product: Product
    keys: dict[str, Any]
    marketplace_sku: str
    marketplace_product_id: str | None
    url: str | None


async def map_from_csv(pool: asyncpg.Pool, slug: str, data: bytes) -> MapReport:
    """Map our SKUs to the marketplace's items from a CSV file (comma, semicolon or tab separated,
    a header row; columns per marketplace in SPECS). A file with any error is not applied at all;
    otherwise every row is written in one transaction. Re-mapping a product to another item makes the
    next push send its price and stock in full."""
    text = _decode(data)
    try:
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise AdminError("the file has no rows under its header")
    if len(rows) > MAX_MAP_ROWS + 1:
        raise AdminError(f"at most {MAX_MAP_ROWS} rows per file")
    report = MapReport()
    async with pool.acquire() as conn, conn.transaction():
        marketplace = await get_marketplace(conn, slug)
        spec = spec_for(marketplace.slug)
        names = _header_names(spec, rows[0])
        parsed: list[tuple[int, dict[str, str]]] = []
        for number, cells in enumerate(rows[1:], start=2):
            if len(cells) > len(names):
                report.errors.append(f"row {number}: more cells than columns")
                continue
            parsed.append((number, dict(zip(names, (c.strip() for c in cells), strict=False))))
        catalog = {p.sku: p for p in await products.get_many_by_sku(conn, [v.get(OUR_SKU, "") for _, v in parsed])}
        plan: list[_PlannedMapping] = []
        for number, values in parsed:
            sku = values.get(OUR_SKU, "")
            product = catalog.get(sku)
            if product is None:
                report.errors.append(f"row {number}: sku {sku[:100]!r} is not in our catalog")
                continue
            try:
                keys = normalize_keys(spec, values)
            except AdminError as exc:
                report.errors.append(f"row {number}: {exc}")
                continue
            url = values.get(URL) or None
            if url is not None and not re.match(r"^https?://\S+$", url):
                report.errors.append(f"row {number}: url must be an http(s):// address")
                continue
            item, card = identity(spec, keys)
            plan.append(_PlannedMapping(number, product, keys, item, card, url))
        await _check_unique(conn, marketplace, plan, report)
        if report.errors:
            return report
        current = {m.product_id: m for m in await marketplace_products.list_for_marketplace(conn, marketplace.id)}
        for planned in plan:
            before = current.get(planned.product.id)
            if before is not None and before.marketplace_sku != planned.marketplace_sku:
                # Free the item first: two products of the file may swap their items.
                await marketplace_products.upsert(
                    conn, product_id=planned.product.id, marketplace_id=marketplace.id,
                    marketplace_sku=f"~remap-{before.id}", marketplace_product_id=None)
        for planned in plan:
            await _write_mapping(conn, marketplace, planned, current.get(planned.product.id), report)
    return report


async def _check_unique(
    conn: Executor, marketplace: Marketplace, plan: list[_PlannedMapping], report: MapReport,
) -> None:
    """One row per product and per marketplace item, in the file and against existing mappings."""
    by_product: dict[int, int] = {}
    by_item: dict[str, int] = {}
    for planned in plan:
        if planned.product.id in by_product:
            report.errors.append(f"row {planned.row}: sku {planned.product.sku} is already on row "
                                 f"{by_product[planned.product.id]}")
        by_product.setdefault(planned.product.id, planned.row)
        if planned.marketplace_sku in by_item:
            report.errors.append(f"row {planned.row}: {marketplace.slug} item {planned.marketplace_sku} is already "
                                 f"on row {by_item[planned.marketplace_sku]}")
        by_item.setdefault(planned.marketplace_sku, planned.row)
    moving = {p.product.id for p in plan}
    current = {m.marketplace_sku: m for m in await marketplace_products.list_for_marketplace(conn, marketplace.id)}
    sku_of = {p.id: p.sku for p in await products.get_many(conn, [m.product_id for m in current.values()])}
    for planned in plan:
        holder = current.get(planned.marketplace_sku)
        if holder is not None and holder.product_id != planned.product.id and holder.product_id not in moving:
            report.errors.append(f"row {planned.row}: {marketplace.slug} item {planned.marketplace_sku} is mapped to "
                                 f"{sku_of.get(holder.product_id, holder.product_id)} already")


async def _write_mapping(
    conn: Executor, marketplace: Marketplace, planned: _PlannedMapping, before: MarketplaceProduct | None,
    report: MapReport,
) -> None:
    same_url = planned.url is None or (before is not None and planned.url == before.marketplace_url)
    if before is not None and before.marketplace_sku == planned.marketplace_sku \
            and before.marketplace_keys == planned.keys and same_url:
        report.unchanged += 1
        return
    await marketplace_products.upsert(
        conn, product_id=planned.product.id, marketplace_id=marketplace.id, marketplace_sku=planned.marketplace_sku,
        marketplace_product_id=planned.marketplace_product_id, marketplace_url=planned.url,
        marketplace_keys=planned.keys)
    report.mapped += 1


@dataclass
class AutomapReport:
    mapped: list[str] = field(default_factory=list)  # our SKUs mapped or refreshed
    unchanged: int = 0
    unmatched: list[str] = field(default_factory=list)  # the marketplace's items we could not match
    kept: list[str] = field(default_factory=list)  # products already mapped to another item (left alone)
    ambiguous: list[str] = field(default_factory=list)
    not_listed: list[str] = field(default_factory=list)  # our active products with no item there


def _describe(item: CatalogItem) -> str:
    shown = item.seller_sku or ", ".join(f"{k}={v}" for k, v in sorted(item.keys.items()) if v not in (None, []))
    return f"{shown[:80]}" + (f" ({item.name[:40]})" if item.name else "")


async def automap(pool: asyncpg.Pool, keybox: KeyBox, adapters: AdapterFactory, slug: str) -> AutomapReport:
    """Read the marketplace's catalogue and map its items to our products by the seller's code (Uzum
    sellerItemCode, WB vendorCode, Ozon offer_id = our SKU, ignoring case when that is unambiguous),
    then by barcode. A product already mapped to another item keeps its mapping (a CSV mapping wins);
    what could not be matched is reported. Raises MarketplaceError when the catalogue cannot be read."""
    marketplace = await get_marketplace(pool, slug)
    spec = spec_for(marketplace.slug)
    adapter = adapters(account_for(marketplace, keybox))
    catalog = await adapter.list_catalog()
    report = AutomapReport()
    async with pool.acquire() as conn, conn.transaction():
        ours = await products.list_all(conn)
        by_sku = {p.sku: p for p in ours}
        by_folded: dict[str, list[Product]] = {}
        by_barcode: dict[str, list[Product]] = {}
        for ours_product in ours:
            by_folded.setdefault(ours_product.sku.casefold(), []).append(ours_product)
            if ours_product.barcode:
                by_barcode.setdefault(ours_product.barcode.strip(), []).append(ours_product)
        current = {m.product_id: m for m in await marketplace_products.list_for_marketplace(conn, marketplace.id)}
        taken_items = {m.marketplace_sku: m.product_id for m in current.values()}
        matched: dict[int, dict[str, Any]] = {}
        for item in catalog:
            product: Product | None = None
            code = (item.seller_sku or "").strip()
            if code in by_sku:
                product = by_sku[code]
            elif code and len(by_folded.get(code.casefold(), [])) == 1:
                product = by_folded[code.casefold()][0]
            else:
                candidates = {p.id: p for b in item.barcodes for p in by_barcode.get(str(b).strip(), [])}
                if len(candidates) == 1:
                    product = next(iter(candidates.values()))
                elif len(candidates) > 1:
                    report.ambiguous.append(f"{_describe(item)}: barcode matches several of our products")
                    continue
            if product is None:
                report.unmatched.append(_describe(item))
                continue
            try:
                keys = normalize_keys(spec, dict(item.keys))
            except AdminError as exc:
                report.unmatched.append(f"{_describe(item)}: {exc}")
                continue
            if product.id in matched:
                report.ambiguous.append(f"{product.sku}: several {marketplace.slug} items match it")
                continue
            matched[product.id] = keys
        by_id = {p.id: p for p in ours}
        for product_id, keys in sorted(matched.items()):
            mapped_product = by_id[product_id]
            marketplace_sku, card = identity(spec, keys)
            before = current.get(product_id)
            if before is not None and before.marketplace_sku != marketplace_sku:
                report.kept.append(f"{mapped_product.sku}: stays mapped to {before.marketplace_sku} "
                                   f"(the catalogue suggests {marketplace_sku})")
                continue
            holder = taken_items.get(marketplace_sku)
            if holder is not None and holder != product_id:
                report.kept.append(f"{mapped_product.sku}: {marketplace.slug} item {marketplace_sku} is mapped "
                                   "to another product already")
                continue
            if before is not None and before.marketplace_keys == keys:
                report.unchanged += 1
                continue
            await marketplace_products.upsert(
                conn, product_id=product_id, marketplace_id=marketplace.id, marketplace_sku=marketplace_sku,
                marketplace_product_id=card, marketplace_keys=keys)
            report.mapped.append(mapped_product.sku)
        mapped_now = set(current) | set(matched)
        report.not_listed = [p.sku for p in ours if p.is_active and p.id not in mapped_now]
    return report


def describe_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"
