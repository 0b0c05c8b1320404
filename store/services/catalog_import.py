"""The catalog as a CSV file: import (parse, validate, preview, apply in one transaction) and export.

The file (UTF-8, with or without BOM; Windows-1251 is accepted too; comma, semicolon or tab
separated, detected from the header) has a header row naming its columns, in any order:

    sku             required; the product's key (up to 100 characters, no spaces)
    barcode         up to 100 characters, no spaces
    name_uz         the Uzbek name; required for a new product, cannot be emptied
    name_ru         the Russian name
    description_uz  / description_ru: free text (up to 5000 characters)
    category_path   the category, top level first, levels separated by "/" ("Elektronika / Smartfonlar");
                    matched by Uzbek name, ignoring case; missing categories are created (at most 3 levels)
                    (the header `category` is accepted as well)
    price           so'm: 125000, 125 000, 125000.50 or 125000,50; required for a new product
    sale_price      so'm, lower than the price; empty means no sale
    stock           whole number of units, 0..1 000 000
    image_url       http:// or https:// address
    is_active       1/0, true/false, yes/no, ha/yo'q, да/нет

Only `sku` must be present. A column missing from the header leaves that field of existing
products as it is. An empty cell clears an optional field (barcode, name_ru, descriptions,
category_path, sale_price, image_url); an empty `stock` or `is_active` keeps the current value (a new
product gets 0 units and is active). Errors are reported per row (the header is row 1, as in a
spreadsheet) and column; a file with any error is not applied at all. Stock changes go through
`store.services.stock`; after the transaction commits the marketplaces hear about every product
whose stock or price changed.

`export_csv` writes the whole catalog in the same format (UTF-8 with BOM, comma separated), so
exporting, editing and importing the file round-trips.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from arq.connections import ArqRedis

from db.models import Category, Product
from db.pool import Executor
from db.repos import categories, products
from store.errors import Conflict, ValidationFailed
from store.services import events, media, stock
from store.services.products_admin import MAX_STOCK, parse_money
from store.validation import has_forbidden_chars, is_ascii_int

COLUMNS = ("sku", "barcode", "name_uz", "name_ru", "description_uz", "description_ru", "category_path", "price",
           "sale_price", "stock", "image_url", "is_active")
ALIASES = {"category": "category_path"}
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_DESCRIPTION = 5000
MAX_CATEGORY_DEPTH = 3
CATEGORY_SEPARATOR = "/"
_CLEARABLE = {"barcode", "name_ru", "description_uz", "description_ru", "category_path", "sale_price", "image_url"}
_TRUE = {"1", "true", "yes", "y", "ha", "да", "+"}
_FALSE = {"0", "false", "no", "n", "yo'q", "yoq", "yo‘q", "нет", "-"}
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_MEDIA_PATH = re.compile(r"^/media/[0-9a-f]{32}\.jpg$")  # a photo the store keeps (what /export writes)
# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): export writes it with a leading
# apostrophe (shown as text by Excel, LibreOffice and Google Sheets), import takes that apostrophe off.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str
    reason: str  # catalog key
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int
    sku: str
    values: dict[str, Any]  # column -> typed value for the columns to write; None clears


@dataclass(frozen=True, slots=True)
class ParsedFile:
    columns: tuple[str, ...]
    rows: list[ParsedRow]
    errors: list[RowError]


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What applying the file would do. `errors` empty means it can be applied."""

    rows: list[ParsedRow]
    creates: list[str]  # SKUs
    updates: list[str]  # SKUs of existing products that change
    unchanged: list[str]  # SKUs of existing products the file leaves as they are
    new_categories: list[str]  # paths
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    categories_created: int
    stock_changed: list[int]
    price_changed: list[int]
    # rows whose http(s) image_url could not be fetched and stored (row, catalog key, params): their
    # photo stays as it was
    images_failed: tuple[tuple[int, str, dict[str, Any]], ...] = ()


class ImportRejected(ValidationFailed):
    """The file has errors (found again while applying: the catalog may have changed since the preview)."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__("catalog_import.error.rows", count=len(plan.errors))
        self.plan = plan


# --- reading the file ----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if not data.strip():
        raise ValidationFailed("catalog_import.error.empty")
    if len(data) > MAX_BYTES:
        raise ValidationFailed("catalog_import.error.too_large", max_mb=MAX_BYTES // (1024 * 1024))
    if b"\x00" in data:
        raise ValidationFailed("catalog_import.error.not_text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on a Russian-language Windows saves "CSV" in Windows-1251.
        return data.decode("cp1251", errors="replace")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def _header(cells: list[str]) -> tuple[str, ...]:
    names = []
    for cell in cells:
        name = re.sub(r"\s+", "_", cell.strip().lower())
        names.append(ALIASES.get(name, name))
    unknown = [n for n in names if n not in COLUMNS]
    if "sku" not in names:
        raise ValidationFailed("catalog_import.error.no_sku_column", columns=", ".join(COLUMNS))
    if unknown:
        raise ValidationFailed("catalog_import.error.unknown_columns", unknown=", ".join(unknown[:5]),
                               columns=", ".join(COLUMNS))
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationFailed("catalog_import.error.duplicate_columns", columns=", ".join(duplicates))
    return tuple(names)


def neutralize(cell: str) -> str:
    """An exported cell that no spreadsheet runs as a formula; `restore` gives the value back.

    A value starting with = + - @ tab or CR gets a leading apostrophe, and so does a value that
    starts with an apostrophe followed by one of those (or another apostrophe), so the pair is
    exact: restore(neutralize(v)) == v for every v."""
    if cell.startswith(_FORMULA_START) or (cell.startswith("'") and cell[1:2] != ""
                                            and (cell[1:2] in _FORMULA_START or cell[1:2] == "'")):
        return "'" + cell
    return cell


def restore(cell: str) -> str:
    """An imported cell with `neutralize`'s apostrophe taken off."""
    if cell.startswith("'") and cell[1:2] != "" and (cell[1:2] in _FORMULA_START or cell[1:2] == "'"):
        return cell[1:]
    return cell


def _text(value: str, column: str, row: int, errors: list[RowError], *, limit: int,
          spaces: bool = True, multiline: bool = False) -> str | None:
    text = value.strip()
    if not text:
        return None
    if has_forbidden_chars(text, multiline=multiline):
        errors.append(RowError(row, column, "catalog_import.reason.bad_text"))
    elif len(text) > limit:
        errors.append(RowError(row, column, "catalog_import.reason.too_long", {"max": limit}))
    elif not spaces and any(ch.isspace() for ch in text):
        errors.append(RowError(row, column, "catalog_import.reason.spaces"))
    return text


def _cell(column: str, raw: str, row: int, errors: list[RowError]) -> tuple[bool, Any]:
    """(write?, typed value) for one cell; problems go to `errors`."""
    value = raw.strip()
    if column in ("stock", "is_active") and not value:
        return False, None  # empty keeps the current value
    if column in ("name_uz", "price") and not value:
        errors.append(RowError(row, column, "catalog_import.reason.required"))
        return False, None
    if not value:
        return True, None  # an optional field, cleared
    if column == "barcode":
        return True, _text(value, column, row, errors, limit=100, spaces=False)
    if column in ("name_uz", "name_ru"):
        return True, _text(value, column, row, errors, limit=255)
    if column in ("description_uz", "description_ru"):
        return True, _text(value, column, row, errors, limit=MAX_DESCRIPTION, multiline=True)
    if column in ("price", "sale_price"):
        try:
            return True, parse_money(value)
        except ValidationFailed:
            errors.append(RowError(row, column, "catalog_import.reason.money", {"value": value[:40]}))
            return False, None
    if column == "stock":
        if not is_ascii_int(value, maximum=MAX_STOCK):
            errors.append(RowError(row, column, "catalog_import.reason.quantity", {"max": MAX_STOCK}))
            return False, None
        return True, int(value)
    if column == "image_url":
        if len(value) > 2000 or not (_URL.match(value) or _MEDIA_PATH.match(value)):
            errors.append(RowError(row, column, "catalog_import.reason.url"))
            return False, None
        return True, value
    if column == "is_active":
        lowered = value.lower()
        if lowered in _TRUE:
            return True, True
        if lowered in _FALSE:
            return True, False
        errors.append(RowError(row, column, "catalog_import.reason.boolean"))
        return False, None
    if column == "category_path":
        if has_forbidden_chars(value, multiline=False):
            errors.append(RowError(row, column, "catalog_import.reason.bad_text"))
            return False, None
        parts = [part.strip() for part in value.split(CATEGORY_SEPARATOR)]
        if any(not part for part in parts):
            errors.append(RowError(row, column, "catalog_import.reason.category_empty_level"))
            return False, None
        if len(parts) > MAX_CATEGORY_DEPTH:
            errors.append(RowError(row, column, "catalog_import.reason.category_depth",
                                   {"max": MAX_CATEGORY_DEPTH}))
            return False, None
        if any(len(part) > 255 for part in parts):
            errors.append(RowError(row, column, "catalog_import.reason.too_long", {"max": 255}))
            return False, None
        return True, tuple(parts)
    raise AssertionError(column)


def parse_csv(data: bytes) -> ParsedFile:
    """Read and type-check the file without touching the database.

    Raises ValidationFailed for a problem with the whole file (empty, too big, no `sku` column,
    unknown columns, too many rows); row problems are returned in `errors`."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ValidationFailed("catalog_import.error.malformed", row=reader.line_num, detail=str(exc)) from None
    if not records:
        raise ValidationFailed("catalog_import.error.empty")
    columns = _header(records[0])
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    data_rows = 0
    for number, raw_cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in raw_cells):
            continue  # blank line
        cells = [restore(cell.strip()) for cell in raw_cells]
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise ValidationFailed("catalog_import.error.too_many_rows", max=MAX_ROWS)
        if len(cells) != len(columns):
            errors.append(RowError(number, "-", "catalog_import.reason.cells",
                                   {"count": len(cells), "expected": len(columns)}))
            continue
        row_errors: list[RowError] = []
        sku = _text(cells[columns.index("sku")], "sku", number, row_errors, limit=100, spaces=False)
        if sku is None:
            row_errors.append(RowError(number, "sku", "catalog_import.reason.required"))
        elif sku in first_seen:
            row_errors.append(RowError(number, "sku", "catalog_import.reason.duplicate_sku",
                                       {"row": first_seen[sku]}))
        else:
            first_seen[sku] = number
        values: dict[str, Any] = {}
        for column, raw in zip(columns, cells, strict=True):
            if column == "sku":
                continue
            write, value = _cell(column, raw, number, row_errors)
            if write:
                values[column] = value
        errors.extend(row_errors)
        if not row_errors and sku is not None:
            rows.append(ParsedRow(number, sku, values))
    if not rows and not errors:
        raise ValidationFailed("catalog_import.error.no_rows")
    return ParsedFile(columns, rows, errors)


# --- checking against the catalog ------------------------------------------------------------------


class _CategoryIndex:
    """Category paths by (parent id, casefolded Uzbek name); new paths get provisional negative ids."""

    def __init__(self, existing: list[Category]) -> None:
        self.by_name: dict[tuple[int | None, str], int] = {}
        for category in sorted(existing, key=lambda c: c.id):
            self.by_name.setdefault((category.parent_id, category.name_uz.strip().casefold()), category.id)
        self.new_paths: list[tuple[str, ...]] = []

    def resolve(self, path: tuple[str, ...]) -> int | None:
        """The id of the path's last level, or None when some level does not exist yet."""
        parent: int | None = None
        for name in path:
            found = self.by_name.get((parent, name.casefold()))
            if found is None:
                return None
            parent = found
        return parent


def _differs(product: Product, values: dict[str, Any], category_id: int | None) -> bool:
    for column, value in values.items():
        if column == "category_path":
            if category_id != product.category_id:
                return True
        elif column == "stock":
            if value != product.stock_quantity:
                return True
        elif getattr(product, column) != value:
            return True
    return False


async def _plan(db: Executor, parsed: ParsedFile) -> tuple[ImportPlan, _CategoryIndex]:
    existing = {p.sku: p for p in await products.get_many_by_sku(db, [r.sku for r in parsed.rows])}
    index = _CategoryIndex(await categories.list_all(db))
    errors = list(parsed.errors)
    creates: list[str] = []
    updates: list[str] = []
    unchanged: list[str] = []
    for row in parsed.rows:
        product = existing.get(row.sku)
        values = row.values
        if product is None:
            for column in ("name_uz", "price"):
                if values.get(column) is None:
                    errors.append(RowError(row.row, column, "catalog_import.reason.required_new"))
        price = values["price"] if "price" in values else (product.price if product else None)
        sale = values["sale_price"] if "sale_price" in values else (product.sale_price if product else None)
        if price is not None and sale is not None and sale >= price:
            errors.append(RowError(row.row, "sale_price", "catalog_import.reason.sale_not_lower",
                                   {"price": f"{price:f}"}))
        category_id = None
        path = values.get("category_path")
        if path is not None:
            category_id = index.resolve(path)
            folded = tuple(name.casefold() for name in path)
            if category_id is None and folded not in {tuple(n.casefold() for n in p) for p in index.new_paths}:
                index.new_paths.append(path)
        if product is None:
            creates.append(row.sku)
        elif (path is not None and category_id is None) or _differs(product, values, category_id):
            updates.append(row.sku)
        else:
            unchanged.append(row.sku)
    errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else -1))
    new_categories = [" / ".join(p) for p in index.new_paths]
    return ImportPlan(parsed.rows, creates, updates, unchanged, new_categories, errors), index


async def preview(db: Executor, data: bytes) -> ImportPlan:
    """What the file would do, writing nothing. Raises ValidationFailed for a file-level problem."""
    plan, _ = await _plan(db, parse_csv(data))
    return plan


async def _category_id(db: Executor, index: _CategoryIndex, path: tuple[str, ...]) -> int:
    parent: int | None = None
    for name in path:
        key = (parent, name.casefold())
        found = index.by_name.get(key)
        if found is None:
            created = await categories.create(db, name_uz=name, name_ru=None, parent_id=parent)
            found = index.by_name[key] = created.id
        parent = found
    assert parent is not None
    return parent


async def _localize_images(redis: ArqRedis | None, parsed: ParsedFile, directory: Path, allow_private: bool,
                           ) -> tuple[ParsedFile, tuple[tuple[int, str, dict[str, Any]], ...]]:
    """Replace every http(s) image_url by the photo fetched and stored under `directory` (the Mini
    App never hotlinks); a row whose image cannot be fetched keeps its current photo."""
    addresses = [r.values["image_url"] for r in parsed.rows if _URL.match(r.values.get("image_url") or "")]
    if not addresses:
        return parsed, ()
    found = await media.localize(redis, directory, addresses, allow_private=allow_private)
    rows, failed = [], []
    for row in parsed.rows:
        address = row.values.get("image_url")
        outcome = found.get(address) if isinstance(address, str) else None
        if outcome is None:
            rows.append(row)
            continue
        values = dict(row.values)
        if isinstance(outcome, media.ImageRejected):
            values.pop("image_url")
            failed.append((row.row, outcome.message_key, dict(outcome.params)))
        else:
            values["image_url"] = outcome.url
        rows.append(ParsedRow(row.row, row.sku, values))
    return ParsedFile(parsed.columns, rows, parsed.errors), tuple(failed)


async def apply(pool: asyncpg.Pool, data: bytes, *, media_dir: Path | None = None,
                redis: ArqRedis | None = None, allow_private_images: bool = False) -> ImportResult:
    """Apply the file: every row or none, in one transaction. The file is checked again inside
    the transaction (with the products locked), so what is written is what validates now; raises
    ImportRejected if it no longer does. Safe to run twice: the second run changes nothing.
    With `media_dir`, http(s) image addresses are fetched and stored first (store.services.media;
    `redis` remembers which address gave which photo, so a re-import does not fetch again); an
    address on the shop's own machine or network is refused unless `allow_private_images`."""
    parsed = parse_csv(data)
    images_failed: tuple[tuple[int, str, dict[str, Any]], ...] = ()
    if media_dir is not None and not parsed.errors:
        parsed, images_failed = await _localize_images(redis, parsed, media_dir, allow_private_images)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await products.lock_many_by_sku(conn, [r.sku for r in parsed.rows])
            plan, index = await _plan(conn, parsed)
            if not plan.ok:
                raise ImportRejected(plan)
            existing = {p.sku: p for p in await products.get_many_by_sku(conn, [r.sku for r in parsed.rows])}
            categories_before = len(index.by_name)
            stock_moved: list[int] = []
            price_moved: list[int] = []
            for row in plan.rows:
                values = dict(row.values)
                path = values.pop("category_path", None)
                if "category_path" in row.values:
                    values["category_id"] = await _category_id(conn, index, path) if path else None
                quantity = values.pop("stock", None)
                product = existing.get(row.sku)
                if product is None:
                    created = await products.create(conn, sku=row.sku, stock_quantity=0, **values)
                    if quantity:  # the first stock, like every change of it, through the stock service
                        await stock.set_quantity(conn, created.id, quantity)
                        stock_moved.append(created.id)
                    continue
                await products.update_details(conn, product.id, values)
                if quantity is not None and quantity != product.stock_quantity:
                    await stock.set_quantity(conn, product.id, quantity)
                    stock_moved.append(product.id)
                price = values.get("price", product.price)
                sale = values.get("sale_price", product.sale_price)
                if (price, sale) != (product.price, product.sale_price):
                    price_moved.append(product.id)
            categories_created = len(index.by_name) - categories_before
            await events.stock_changed(conn, stock_moved)
            await events.price_changed(conn, price_moved)
            await events.catalog_changed(conn)
    except asyncpg.UniqueViolationError:
        # Another import or admin created one of these SKUs a moment ago; nothing was written.
        raise Conflict("catalog_import.error.changed_meanwhile") from None
    return ImportResult(len(plan.creates), len(plan.updates), len(plan.unchanged), categories_created,
                        stock_moved, price_moved, images_failed)


# --- export ------------------------------------------------------------------------------------------


def _plain(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    text = f"{amount.quantize(Decimal('0.01')):f}"
    return text.removesuffix(".00")


async def export_csv(db: Executor) -> tuple[bytes, int]:
    """(the catalog as CSV in the import format, number of products)."""
    by_id = {c.id: c for c in await categories.list_all(db)}

    def path(category_id: int | None) -> str:
        names: list[str] = []
        seen: set[int] = set()
        while category_id is not None and category_id in by_id and category_id not in seen:
            seen.add(category_id)
            names.append(by_id[category_id].name_uz)
            category_id = by_id[category_id].parent_id
        return f" {CATEGORY_SEPARATOR} ".join(reversed(names))

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    catalog = await products.list_all(db)
    for p in catalog:
        writer.writerow([neutralize(str(cell)) for cell in (
            p.sku, p.barcode or "", p.name_uz, p.name_ru or "", p.description_uz or "", p.description_ru or "",
            path(p.category_id), _plain(p.price), _plain(p.sale_price), p.stock_quantity, p.image_url or "",
            "1" if p.is_active else "0")])
    return ("\ufeff" + out.getvalue()).encode("utf-8"), len(catalog)
