"""Meter readings from CSV, Parquet and DL/T 645 files, checked and converted to the lake's reading schema."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import polars as pl

from tanhui.errors import BadInput
from tanhui.mrv import dlt645
from tanhui.mrv.frames import LOCAL_TIMEZONE, READING_SCHEMA

# Sanity caps, far above anything a distributed-PV meter can report, so that only corrupt data (a misplaced
# decimal point, Wh sent as kWh several times over, a register read as an interval) trips them: a 6 MW site
# makes at most 1,500 kWh in 15 minutes, and 10^12 kWh is more than China generates in a year.
MAX_INTERVAL_KWH = 1e6
MAX_REGISTER_KWH = 1e12
# How many row numbers an error message lists before summarising the rest.
SHOWN_ROWS = 5

VALUE_COLUMNS = ("kwh", "register_kwh")
FORMATS = ("csv", "parquet", "dlt645")
_SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# The row number each input row carries through the checks; a name no input file uses.
_LINE = "__line__"
# `frames.READING_SCHEMA` as a typed Polars schema (its plain dict mixes dtype classes and instances).
SCHEMA = pl.Schema(cast("Mapping[str, pl.DataType]", READING_SCHEMA))
_NAIVE_NOTE = f"timestamps without a UTC offset were read as {LOCAL_TIMEZONE} local time (UTC+08:00)"



@dataclass(frozen=True)
class ReadingBatch:
    """Readings read from one source, in `frames.READING_SCHEMA`, and what the user should know about them."""

    frame: pl.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)
    # Each reading's row in the source as the user sees it (CSV line, Parquet row), for error messages.
    rows: pl.Series | None = None
    row_word: str = "row"


def rows_text(numbers: Sequence[int] | pl.Series, word: str) -> str:
    """'lines 3, 7 and 12' or 'rows 3, 7, 12, 15, 20 and 41 more': the first rows, then how many more."""
    shown = [str(n) for n in numbers[:SHOWN_ROWS]]
    rest = len(numbers) - len(shown)
    plural = f"{word}s" if len(numbers) > 1 else word
    if rest:
        return f"{plural} {', '.join(shown)} and {rest} more"
    if len(shown) > 1:
        return f"{plural} {', '.join(shown[:-1])} and {shown[-1]}"
    return f"{plural} {shown[0]}"


def read_readings(path: Path, fmt: str | None = None) -> ReadingBatch:
    """Read one readings file; any problem raises `BadInput` naming the file, rows and column, returning nothing.

    ``fmt`` is csv, parquet or dlt645 (a CSV of ``ts,frame`` holding DL/T 645-2007 replies with the forward active
    energy register); by default it follows the file's suffix.  Timestamps with an offset are converted to UTC,
    naive ones are read as Asia/Shanghai time (a note says so).  Rows are numbered as the user sees them: CSV
    lines counting the header as line 1, Parquet rows from 1.
    """
    fmt = _format(path, fmt)
    if fmt == "parquet":
        table = _read_parquet(path)
        word = "row"
    else:
        table = _read_csv(path)
        word = "line"
    if fmt == "dlt645":
        table = _decode_frames(table, path)
    frame, notes = _readings_from_table(table, str(path), word)
    return ReadingBatch(frame=frame, source=str(path), notes=notes, rows=table[_LINE], row_word=word)


@dataclass(frozen=True)
class ReadingScan:
    """Checked readings of one source as a lazy frame in `frames.READING_SCHEMA`, not held in memory."""

    frame: pl.LazyFrame
    source: str
    readings: int
    notes: list[str] = field(default_factory=list)


def scan_readings(path: Path, known: Collection[str], fmt: str | None = None) -> ReadingScan:
    """`read_readings` followed by `check_known_meters`, streaming where it can: a Parquet file of typed columns
    (a text or integer meter id, a datetime ts, a numeric kwh or register_kwh) is checked in one streaming pass
    and returned as a scan, so that a file of any size is never held whole in memory.  Any other file, or a
    Parquet file breaking a rule, goes through `read_readings`, whose error names the rows.
    """
    if _format(path, fmt) == "parquet":
        scanned = _scan_typed_parquet(path, known)
        if scanned is not None:
            return scanned
    batch = read_readings(path, fmt)
    check_known_meters(batch.frame, known, batch.source, rows=batch.rows, word=batch.row_word)
    return ReadingScan(batch.frame.lazy(), batch.source, len(batch.frame), batch.notes)


def _scan_typed_parquet(path: Path, known: Collection[str]) -> ReadingScan | None:
    """The file as a checked scan, or None where `read_readings` must read it (to convert text or to name the
    rows that break a rule: the same rules, checked here without keeping the rows)."""
    try:
        schema = pl.scan_parquet(path, hive_partitioning=False).collect_schema()
    except (pl.exceptions.PolarsError, OSError):
        return None
    values = [c for c in VALUE_COLUMNS if c in schema]
    if set(schema) - {"meter_id", "ts", *VALUE_COLUMNS} or "meter_id" not in schema or "ts" not in schema \
            or len(values) != 1:
        return None
    value = values[0]
    meter_type, ts_type, value_type = schema["meter_id"], schema["ts"], schema[value]
    if not (meter_type == pl.String or meter_type.is_integer()) or not isinstance(ts_type, pl.Datetime) \
            or not value_type.is_numeric():
        return None
    naive = ts_type.time_zone is None
    ts = _local_to_utc(pl.col("ts")) if naive else pl.col("ts").dt.convert_time_zone("UTC")
    number = pl.col(value).cast(pl.Float64)
    absent = pl.lit(None, pl.Float64)
    # The known meter ids that pass the id rules of `_readings_from_table` (not empty, no line break): a reading
    # is good on its meter exactly when its (stripped) id is one of them.
    good = pl.Series([meter for meter in known if meter and "\n" not in meter], dtype=pl.String).implode()
    cap = MAX_INTERVAL_KWH if value == "kwh" else MAX_REGISTER_KWH

    def checked(meter: pl.Expr) -> tuple[pl.LazyFrame, bool, int, bool]:
        lazy = pl.scan_parquet(path, hive_partitioning=False).select(
            meter.alias("meter_id"), ts.cast(pl.Datetime("us", "UTC")).alias("ts"),
            (number if value == "kwh" else absent).alias("kwh"),
            (number if value == "register_kwh" else absent).alias("register_kwh"),
        )
        # The rules of `_readings_from_table`, `_value_problems` and `check_known_meters`, as one condition.
        broken = (~pl.col("meter_id").is_in(good)
                  | pl.col("ts").is_null() | (pl.col("ts").dt.truncate("15m") != pl.col("ts"))
                  | pl.col(value).is_null() | ~pl.col(value).is_finite() | (pl.col(value).abs() > cap))
        found = lazy.select(pl.len().alias("readings"), broken.fill_null(True).any().alias("broken"),
                            pl.col("ts").is_not_null().any().alias("dated")).collect(engine="streaming")
        readings, bad, dated = found.row(0)
        return lazy, bad, readings, dated

    if meter_type == pl.String:
        # Ids as stored first: a known id has no surrounding blanks, so where every id is one, stripping (which
        # copies every string, in this pass and again wherever the scan is read) changes nothing.
        lazy, bad, readings, dated = checked(pl.col("meter_id"))
        if bad:
            lazy, bad, readings, dated = checked(pl.col("meter_id").str.strip_chars())
    else:
        lazy, bad, readings, dated = checked(pl.col("meter_id").cast(pl.String))
    if bad or not readings:
        return None
    return ReadingScan(lazy, str(path), readings, [_NAIVE_NOTE] if naive and dated else [])


def check_readings(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The frame in `READING_SCHEMA` order and types, or `BadInput` naming the rows (from 1) that break its rules.

    The rules every stored reading obeys: a non-empty meter id, a time-zone aware ``ts`` on a 15-minute boundary,
    exactly one of ``kwh`` and ``register_kwh``, finite and below the sanity caps.
    """
    expected = set(READING_SCHEMA)
    if set(frame.columns) != expected:
        missing = sorted(expected - set(frame.columns))
        extra = sorted(set(frame.columns) - expected)
        raise BadInput(f"{source}: readings need exactly the columns {', '.join(READING_SCHEMA)}"
                       + (f"; missing {', '.join(missing)}" if missing else "")
                       + (f"; unexpected {', '.join(extra)}" if extra else ""))
    ts_type = frame.schema["ts"]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise BadInput(f"{source}: column ts must hold time-zone aware datetimes, not {ts_type}")
    try:
        typed = frame.select(
            pl.col("meter_id").cast(pl.String),
            pl.col("ts").dt.convert_time_zone("UTC"),
            pl.col("kwh").cast(pl.Float64),
            pl.col("register_kwh").cast(pl.Float64),
        )
    except pl.exceptions.PolarsError as exc:
        raise BadInput(f"{source}: readings do not have the reading schema's types: {exc}") from exc
    checked = typed.with_row_index(_LINE, offset=1)
    both = checked.filter(pl.col("kwh").is_null() == pl.col("register_kwh").is_null())[_LINE]
    problems = _value_problems(checked, "row")
    if len(both):
        problems.insert(0, f"{rows_text(both, 'row')}: need exactly one of kwh and register_kwh")
    if problems:
        raise BadInput(f"{source}: " + "; ".join(problems))
    return _in_schema(checked)


def check_known_meters(
    frame: pl.DataFrame, known: Collection[str], source: str, *, rows: pl.Series | None = None, word: str = "row",
) -> None:
    """Raise `BadInput` naming the rows and meters of readings whose meter is not in ``known``.

    ``rows`` are the readings' row numbers as the user sees them (default: 1, 2, …), named with ``word``.
    """
    numbers = rows if rows is not None else pl.int_range(1, len(frame) + 1, eager=True)
    unknown = frame.select(pl.col("meter_id"), numbers.alias(_LINE)).filter(
        ~pl.col("meter_id").is_in(pl.Series(list(known), dtype=pl.String).implode()))
    if len(unknown):
        meters = unknown["meter_id"].unique(maintain_order=True)
        listed = ", ".join(meters[:SHOWN_ROWS].to_list()) + (
            f" and {len(meters) - SHOWN_ROWS} more" if len(meters) > SHOWN_ROWS else "")
        raise BadInput(f"{source}: {rows_text(unknown[_LINE], word)}: unknown meter "
                       f"{listed} (not in the site registry); register the sites first")


def _format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        by_suffix = _SUFFIX_FORMATS.get(path.suffix.lower())
        if by_suffix is None:
            raise BadInput(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                           f"give --format ({', '.join(FORMATS)})")
        return by_suffix
    if fmt not in FORMATS:
        raise BadInput(f"unknown readings format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def read_text_csv(path: Path, things: str) -> pl.DataFrame:
    """A CSV file with every cell as text and each row's line number (header = 1) in the column ``__line__``.

    Text, so that each cell is checked by the caller and a bad one is named, not guessed at; ``things`` names
    what the rows are ("readings", "sites") in the empty-file error.
    """
    try:
        return pl.read_csv(path, infer_schema=False, row_index_name=_LINE, row_index_offset=2)
    except FileNotFoundError as exc:
        raise BadInput(f"{path}: no such file") from exc
    except pl.exceptions.NoDataError as exc:
        raise BadInput(f"{path}: the file is empty (no header, no {things})") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BadInput(f"{path}: cannot be read as CSV: {' '.join(str(exc).split())}") from exc


def _read_csv(path: Path) -> pl.DataFrame:
    table = read_text_csv(path, "readings")
    duplicated = [c for c in table.columns if "_duplicated_" in c]
    if duplicated:
        raise BadInput(f"{path}: the header repeats a column ({', '.join(duplicated)})")
    # Blank lines (editors leave them at the end) hold no reading; every other line must be one.
    data = [c for c in table.columns if c != _LINE]
    return table.filter(~pl.all_horizontal(pl.col(data).is_null()))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        table = pl.read_parquet(path, hive_partitioning=False)
    except FileNotFoundError as exc:
        raise BadInput(f"{path}: no such file") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BadInput(f"{path}: cannot be read as Parquet: {' '.join(str(exc).split())}") from exc
    return table.with_row_index(_LINE, offset=1)


def _decode_frames(table: pl.DataFrame, path: Path) -> pl.DataFrame:
    """The ``ts,frame`` CSV's frames as ``meter_id, ts, register_kwh`` (one Python call per frame)."""
    _check_columns(table, str(path), required=("ts", "frame"), values=())
    if table.is_empty():
        raise BadInput(f"{path}: the file has a header but no frames")
    meters: list[str | None] = []
    registers: list[float | None] = []
    failures: list[tuple[int, str]] = []
    for line, text in zip(table[_LINE], table["frame"], strict=True):
        try:
            reading = dlt645.decode_energy_reply(dlt645.parse_hex(text or ""))
        except dlt645.FrameError as exc:
            failures.append((line, str(exc)))
            meters.append(None)
            registers.append(None)
        else:
            meters.append(reading.address)
            registers.append(float(reading.kwh))
    if failures:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in failures[:SHOWN_ROWS])
        more = f" (and {len(failures) - SHOWN_ROWS} more frames)" if len(failures) > SHOWN_ROWS else ""
        raise BadInput(f"{path}: column frame: {len(failures)} frames are not DL/T 645-2007 replies with the "
                       f"forward active energy register: {shown}{more}")
    return table.select(
        _LINE,
        pl.Series("meter_id", meters, dtype=pl.String),
        "ts",
        pl.Series("register_kwh", registers, dtype=pl.Float64),
    )


def _check_columns(table: pl.DataFrame, source: str, *, required: tuple[str, ...], values: tuple[str, ...]) -> None:
    columns = [c for c in table.columns if c != _LINE]
    missing = [c for c in required if c not in columns]
    if missing:
        raise BadInput(f"{source}: missing column {', '.join(missing)} (the header has {', '.join(columns)})")
    present = [c for c in values if c in columns]
    if len(present) > 1:
        raise BadInput(f"{source}: mixed units: both kwh (interval energy) and register_kwh (cumulative register) "
                       "columns are present; a file holds one or the other")
    if values and not present:
        raise BadInput(f"{source}: missing column: a readings file needs kwh (interval energy) or register_kwh "
                       f"(cumulative register); the header has {', '.join(columns)}")
    unknown = [c for c in columns if c not in (*required, *values)]
    if unknown:
        raise BadInput(f"{source}: unknown column {', '.join(unknown)}; expected {', '.join(required)} and "
                       f"{' or '.join(values) if values else 'nothing else'}")


def _readings_from_table(table: pl.DataFrame, source: str, word: str) -> tuple[pl.DataFrame, list[str]]:
    """Check and convert a table of user columns (plus the row numbers) into `READING_SCHEMA`."""
    _check_columns(table, source, required=("meter_id", "ts"), values=VALUE_COLUMNS)
    if table.is_empty():
        raise BadInput(f"{source}: the file has a header but no readings")
    value = next(c for c in VALUE_COLUMNS if c in table.columns)
    problems: list[str] = []
    meter_id = _meter_ids(table, source)
    ts, naive = _timestamps(table, source, word, problems)
    number = _numbers(table, value, source, word, problems)
    absent = pl.lit(None, pl.Float64)
    frame = table.select(_LINE).with_columns(
        meter_id=pl.lit(meter_id),
        ts=pl.lit(ts),
        kwh=pl.lit(number) if value == "kwh" else absent,
        register_kwh=pl.lit(number) if value == "register_kwh" else absent,
    )
    problems.extend(_value_problems(frame, word))
    if problems:
        raise BadInput(f"{source}: " + "; ".join(problems))
    return _in_schema(frame), [_NAIVE_NOTE] if naive else []


def _meter_ids(table: pl.DataFrame, source: str) -> pl.Series:
    dtype = table.schema["meter_id"]
    if dtype == pl.String:
        return table["meter_id"].str.strip_chars()
    if dtype.is_integer():
        return table["meter_id"].cast(pl.String)
    raise BadInput(f"{source}: column meter_id holds {dtype}, not text")


def _timestamps(table: pl.DataFrame, source: str, word: str, problems: list[str]) -> tuple[pl.Series, bool]:
    """The ``ts`` column in UTC, and whether any timestamp was naive (local time)."""
    dtype = table.schema["ts"]
    if isinstance(dtype, pl.Datetime):
        empty = table.filter(pl.col("ts").is_null())[_LINE]
        if len(empty):
            problems.append(f"{rows_text(empty, word)}: column ts is empty")
        if dtype.time_zone is not None:
            return table["ts"].dt.convert_time_zone("UTC"), False
        local = table.select(_LINE, "ts", _local_to_utc(pl.col("ts")).alias("utc"))
        _report_unparsed(local.filter(pl.col("ts").is_not_null() & pl.col("utc").is_null()), word, problems)
        return local["utc"], len(empty) < len(table)
    if dtype != pl.String:
        raise BadInput(f"{source}: column ts holds {dtype}, not timestamps")
    # ISO 8601 with a 'T' or a space, seconds and fractions optional, and an offset (Z, +08:00, +0800) or none.
    text = pl.col("ts").str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"[Zz]$", "+00:00")
    has_offset = text.str.contains(r"[+-]\d{2}:?\d{2}$")
    with_offset = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M%z", strict=False, time_unit="us"),
    ).dt.convert_time_zone("UTC")
    naive = _local_to_utc(pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
    ))
    filled = pl.col("ts").is_not_null() & (pl.col("ts").str.strip_chars() != "")
    parsed = table.select(
        _LINE, "ts", filled.alias("filled"), pl.when(filled).then(has_offset).alias("offset"),
        pl.when(has_offset).then(with_offset).otherwise(naive).alias("utc"),
    )
    empty = parsed.filter(~pl.col("filled"))[_LINE]
    if len(empty):
        problems.append(f"{rows_text(empty, word)}: column ts is empty")
    _report_unparsed(parsed.filter(pl.col("filled") & pl.col("utc").is_null()), word, problems)
    given = parsed.filter(pl.col("filled"))
    with_offset_count = int(given["offset"].sum())
    if 0 < with_offset_count < len(given):
        minority = with_offset_count * 2 < len(given)  # name the rarer kind: those are likely the mistake
        odd = given.filter(pl.col("offset") == minority)[_LINE]
        kind = "have a UTC offset" if minority else "have no UTC offset"
        problems.append(f"{rows_text(odd, word)}: column ts mixes timestamps with and without a UTC offset (these "
                        f"{kind}, the other {len(given) - len(odd)} do not); use one convention per file")
    return parsed["utc"], with_offset_count < len(given)


def _report_unparsed(bad: pl.DataFrame, word: str, problems: list[str]) -> None:
    if len(bad):
        problems.append(f"{rows_text(bad[_LINE], word)}: column ts is not a valid ISO 8601 timestamp "
                        f"(e.g. {str(bad['ts'][0])!r}; expected like 2024-01-01T08:15:00+08:00)")


def _local_to_utc(naive: pl.Expr) -> pl.Expr:
    # A wall time the zone skipped or repeated (Shanghai's 1986-91 summer time) becomes null and is reported.
    return (naive.dt.cast_time_unit("us")
            .dt.replace_time_zone(LOCAL_TIMEZONE, ambiguous="null", non_existent="null")
            .dt.convert_time_zone("UTC"))


def _numbers(table: pl.DataFrame, column: str, source: str, word: str, problems: list[str]) -> pl.Series:
    dtype = table.schema[column]
    if dtype == pl.String:
        text = pl.col(column).str.strip_chars()
        cells = table.select(_LINE, column, (text == "").fill_null(True).alias("empty"),
                             text.cast(pl.Float64, strict=False).alias("number"))
        bad = cells.filter(~pl.col("empty") & pl.col("number").is_null())
        if len(bad):
            problems.append(f"{rows_text(bad[_LINE], word)}: column {column} is not a number "
                            f"(e.g. {bad[column][0]!r})")
    elif dtype.is_numeric():
        cells = table.select(_LINE, pl.col(column).is_null().alias("empty"),
                             pl.col(column).cast(pl.Float64).alias("number"))
    else:
        raise BadInput(f"{source}: column {column} holds {dtype}, not numbers")
    empty = cells.filter(pl.col("empty"))[_LINE]
    if len(empty):
        problems.append(f"{rows_text(empty, word)}: column {column} is empty (leave out a missing reading rather "
                        "than sending an empty value)")
    return cells["number"]


def _value_problems(frame: pl.DataFrame, word: str) -> list[str]:
    """Broken rules in a frame of ``_LINE`` + the reading columns (nulls from failed parsing already reported)."""
    problems = []
    checks = [
        (pl.col("meter_id").is_null() | (pl.col("meter_id") == ""), "column meter_id is empty"),
        (pl.col("meter_id").str.contains("\n", literal=True), "column meter_id holds a line break"),
        (~pl.col("kwh").is_finite(), "column kwh is not finite"),
        (~pl.col("register_kwh").is_finite(), "column register_kwh is not finite"),
        (pl.col("kwh").is_finite() & (pl.col("kwh").abs() > MAX_INTERVAL_KWH),
         f"column kwh is beyond {MAX_INTERVAL_KWH:,.0f} kWh in 15 minutes, more than any distributed-PV meter "
         "can report (check the unit and decimal point)"),
        (pl.col("register_kwh").is_finite() & (pl.col("register_kwh").abs() > MAX_REGISTER_KWH),
         f"column register_kwh is beyond {MAX_REGISTER_KWH:,.0f} kWh, more than any meter register can hold "
         "(check the unit and decimal point)"),
        (pl.col("ts").dt.truncate("15m") != pl.col("ts"),
         "column ts is not the start of a 15-minute interval (:00, :15, :30 or :45, whole minutes)"),
    ]
    found = frame.select(_LINE, *(condition.fill_null(False).alias(str(i))
                                  for i, (condition, _) in enumerate(checks)))
    for i, (_, message) in enumerate(checks):
        lines = found.filter(pl.col(str(i)))[_LINE]
        if len(lines):
            problems.append(f"{rows_text(lines, word)}: {message}")
    return problems


def _in_schema(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())
