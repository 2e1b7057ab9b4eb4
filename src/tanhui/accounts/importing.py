"""Bulk import of holders, economic figures and energy records from CSV or XLSX: all rows or none.

Every row is checked (fields, references to holders, duplicates within the file and against the database)
before anything is written; one bad row names its row number and column, and nothing is imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from tanhui.accounts import register
from tanhui.accounts.rows import ECONOMICS_COLUMNS, HOLDER_COLUMNS, RECORD_COLUMNS, clean
from tanhui.errors import BadInput
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork

KINDS = ("holders", "economics", "records")
COLUMNS = {"holders": HOLDER_COLUMNS, "economics": ECONOMICS_COLUMNS, "records": RECORD_COLUMNS}
MAX_ROWS = 200_000
SHOWN_PROBLEMS = 50
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Imported:
    kind: str
    rows: int
    ids: tuple[int, ...]


def _csv_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput("the CSV file is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    _check_header(list(reader.fieldnames or []))
    for row in reader:
        yield reader.line_num, row


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook  # imported on use: only XLSX imports need it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise BadInput(f"the XLSX file cannot be read: {exc}") from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    _check_header(header)
    for number, cells in enumerate(rows, start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        yield number, dict(zip(header, cells, strict=False))


def _check_header(header: list[str]) -> None:
    if not header:
        raise BadInput("the file is empty: its first row must name the columns")


def read_rows(data: bytes, filename: str = "") -> list[tuple[int, dict[str, Any]]]:
    """(row number, fields) of a CSV or XLSX file (told apart by content), the header being row 1."""
    rows = _xlsx_rows(data) if data.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx") else _csv_rows(data)
    found = []
    for item in rows:
        found.append(item)
        if len(found) > MAX_ROWS:
            raise BadInput(f"the file has more than {MAX_ROWS:,} rows; split it")
    return found


def import_file(tx: UnitOfWork, principal: Principal, kind: str, data: bytes, filename: str = "") -> Imported:
    """Check every row, then write them all in ``tx``; `BadInput` names each bad row and column otherwise."""
    principal.require_operator("import carbon-account data")
    if kind not in KINDS:
        raise BadInput(f"import kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rows = read_rows(data, filename)
    if not rows:
        raise BadInput("the file has a header but no rows")
    unknown = sorted(set(rows[0][1]) - set(COLUMNS[kind]) - {""})
    if unknown:
        raise BadInput(f"row 1: unknown columns {', '.join(unknown)}; a {kind} file has {', '.join(COLUMNS[kind])}")
    problems: list[str] = []
    checked: list[tuple[int, dict[str, Any], Mapping[Any, Any] | None]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for number, fields in rows:
        values, bad = clean(kind, fields)
        found: Mapping[Any, Any] | None = None
        if not bad:
            if kind == "holders":
                bad = register.holder_conflicts(tx.conn, values)
                keys = [("reference", values["reference"]),
                        ("unified_social_credit_code", values["unified_social_credit_code"]),
                        ("organization_id", values["organization_id"])]
            else:
                found = register.holder_by_reference(tx.conn, values["reference"])
                if found is None:
                    bad = [("reference", f"no holder {values['reference']!r}")]
                elif kind == "economics":
                    bad = register.economics_conflicts(tx.conn, found["id"], values)
                    keys = [("period_start", (values["reference"], values["period_start"], values["period_end"]))]
                else:
                    bad = register.record_conflicts(tx.conn, found["id"], values)
                    keys = [("certificate_id", values["certificate_id"]),
                            ("source", tuple(values[k] for k in ("reference", "energy_type", "period_start",
                                                                 "period_end", "source")))]
            for column, key in keys if not bad else []:
                if key is None:
                    continue
                first = seen.setdefault((column, key), number)
                if first != number:
                    bad.append((column, f"repeats row {first}"))
        problems += [f"row {number}, column {column}: {what}" for column, what in bad]
        checked.append((number, values, found))
    if problems:
        shown = problems[:SHOWN_PROBLEMS]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise BadInput(f"nothing was imported: {'; '.join(shown)}{more}", problems=problems)
    ids = []
    try:
        for _number, values, found in checked:
            if kind == "holders":
                row = register.insert_holder(tx, values)
            elif kind == "economics":
                assert found is not None
                row = register.insert_economics(tx, found["id"], values)
            else:
                assert found is not None
                row = register.insert_record(tx, found, values)
            ids.append(row["id"])
    except IntegrityError as exc:  # a concurrent writer took a key between the checks and the writes
        raise BadInput(f"nothing was imported: the database refused a row ({exc.orig})") from None
    return Imported(kind, len(checked), tuple(ids))
