"""Readings files (CSV, Parquet, DL/T 645 frames) become UTC readings, or a clear error naming the rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tanhui.errors import BadInput
from tanhui.mrv import dlt645
from tanhui.mrv.frames import READING_SCHEMA
from tanhui.mrv.readings import ReadingBatch, check_known_meters, read_readings, rows_text, scan_readings

NAIVE_NOTE = "timestamps without a UTC offset were read as Asia/Shanghai local time"


def write(tmp_path: Path, text: str, name: str = "readings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def test_offset_timestamps_are_converted_to_utc_and_rows_kept_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,kwh\n"
                           "m1,2024-01-01T08:15:00+08:00,1.25\n"
                           "m2,2024-01-01 00:00Z,0\n"
                           "m1,2024-01-01T02:00:00.000+0200,-0.5\n")

    batch = read_readings(path)

    assert batch.frame.schema == pl.Schema(READING_SCHEMA)
    assert batch.frame.rows() == [("m1", utc(0, 15), 1.25, None), ("m2", utc(0), 0.0, None),
                                  ("m1", utc(0), -0.5, None)]  # negative energy is kept for verification to flag
    assert batch.notes == []
    assert batch.source == str(path)


def test_naive_timestamps_are_shanghai_time_and_the_batch_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,kwh\nm1,2024-01-01 08:00:00,1\nm1,2024-01-01T08:15,2\n")

    batch = read_readings(path)

    assert batch.frame["ts"].to_list() == [utc(0), utc(0, 15)]
    assert len(batch.notes) == 1
    assert NAIVE_NOTE in batch.notes[0]


def test_cumulative_registers_are_read_into_register_kwh(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,register_kwh\nm1,2024-01-01T08:00:00+08:00,1000.5\n")

    assert read_readings(path).frame.rows() == [("m1", utc(0), None, 1000.5)]


def test_parquet_readings_with_aware_naive_and_text_timestamps(tmp_path: Path) -> None:
    aware = tmp_path / "aware.parquet"
    pl.DataFrame({"meter_id": ["m1"], "ts": [utc(1)], "kwh": [2]}).write_parquet(aware)
    naive = tmp_path / "naive.parquet"
    pl.DataFrame({"meter_id": [42], "ts": [datetime(2024, 1, 1, 9, 0)], "register_kwh": [7.5]}).write_parquet(naive)
    text = tmp_path / "text.pq"
    pl.DataFrame({"meter_id": ["m3"], "ts": ["2024-01-01T09:00:00+08:00"], "kwh": ["0.75"]}).write_parquet(text)

    assert read_readings(aware).frame.rows() == [("m1", utc(1), 2.0, None)]
    from_naive = read_readings(naive)
    assert from_naive.frame.rows() == [("42", utc(1), None, 7.5)]
    assert NAIVE_NOTE in from_naive.notes[0]
    assert read_readings(text).frame.rows() == [("m3", utc(1), 0.75, None)]


def test_duplicate_intervals_in_one_file_are_all_kept_for_verification_to_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,kwh\nm1,2024-01-01 08:00,1\nm1,2024-01-01 08:00,3\nm1,2024-01-01 08:00,1\n")

    assert read_readings(path).frame["kwh"].to_list() == [1.0, 3.0, 1.0]


def test_blank_lines_are_not_readings_and_line_numbers_stay_as_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n\nm1,2024-01-01 08:07,1\n\n")

    with pytest.raises(BadInput, match=r"line 4: column ts is not the start of a 15-minute interval"):
        read_readings(path)
    path.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n\n")
    batch = read_readings(path)
    assert batch.frame.height == 1
    assert batch.rows is not None and batch.rows.to_list() == [2]


@pytest.mark.parametrize(("text", "message"), [
    ("meter_id,ts,kwh,register_kwh\nm1,2024-01-01 08:00,1,\n", r"readings\.csv: mixed units: both kwh"),
    ("meter_id,kwh\nm1,1\n", r"readings\.csv: missing column ts"),
    ("meter_id,ts\nm1,2024-01-01 08:00\n", r"missing column: a readings file needs kwh .* or register_kwh"),
    ("meter_id,ts,kwh,quality\nm1,2024-01-01 08:00,1,good\n", r"unknown column quality"),
    ("meter_id,ts,kwh,kwh\nm1,2024-01-01 08:00,1,2\n", r"the header repeats a column"),
    ("", r"readings\.csv: the file is empty"),
    ("meter_id,ts,kwh\n", r"readings\.csv: the file has a header but no readings"),
    ("meter_id,ts,kwh\nm1,2024-01-01 08:00,1,5\n", r"cannot be read as CSV"),
])
def test_files_of_the_wrong_shape_are_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_readings(write(tmp_path, text))


@pytest.mark.parametrize(("rows", "message"), [
    ("m1,2024-01-01 08:00,1\nm1,2024-01-01T08:15:00+08:00,1\nm1,2024-01-01 08:30,1\n",
     r"line 3: column ts mixes timestamps with and without a UTC offset"),
    ("m1,2024-01-01 08:00,1\nm1,yesterday,1\nm1,2024-02-30 08:00,1\n",
     r"lines 3 and 4: column ts is not a valid ISO 8601 timestamp \(e\.g\. 'yesterday'"),
    ("m1,,1\n", r"line 2: column ts is empty"),
    ("m1,2024-01-01 08:00,one\n", r"line 2: column kwh is not a number \(e\.g\. 'one'\)"),
    ("m1,2024-01-01 08:00,\nm1,2024-01-01 08:15,1\n", r"line 2: column kwh is empty"),
    ("m1,2024-01-01 08:00,inf\nm1,2024-01-01 08:15,NaN\n", r"lines 2 and 3: column kwh is not finite"),
    ("m1,2024-01-01 08:00,1\nm1,2024-01-01 08:15,1e7\n", r"line 3: column kwh is beyond 1,000,000 kWh"),
    (",2024-01-01 08:00,1\n\"\",2024-01-01 08:15,1\n", r"lines 2 and 3: column meter_id is empty"),
    ("m1,2024-01-01 08:00:30,1\nm1,2024-01-01 08:10,1\n",
     r"lines 2 and 3: column ts is not the start of a 15-minute interval"),
])
def test_bad_cells_are_refused_naming_the_lines_and_column(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_readings(write(tmp_path, "meter_id,ts,kwh\n" + rows))


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,register_kwh\nm1,soon,1\nm1,2024-01-01 08:00,1e13\n")

    with pytest.raises(BadInput) as refused:
        read_readings(path)

    assert "line 2: column ts is not a valid ISO 8601 timestamp" in refused.value.detail
    assert "line 3: column register_kwh is beyond 1,000,000,000,000 kWh" in refused.value.detail


def test_bad_parquet_rows_are_named_from_one(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pl.DataFrame({"meter_id": ["m1", None, "m1"], "ts": [utc(0), utc(0), None], "kwh": [1.0, 2.0, None]}).write_parquet(
        path)

    with pytest.raises(BadInput) as refused:
        read_readings(path)

    assert "row 3: column ts is empty" in refused.value.detail
    assert "row 3: column kwh is empty" in refused.value.detail
    assert "row 2: column meter_id is empty" in refused.value.detail


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"x\.parquet: cannot be read as Parquet"):
        read_readings(write(tmp_path, "meter_id,ts,kwh\n", "x.parquet"))


def test_the_format_comes_from_the_suffix_or_must_be_given(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n", "readings.txt")
    with pytest.raises(BadInput, match=r"readings\.txt: cannot tell the format from the suffix '\.txt'"):
        read_readings(path)
    assert read_readings(path, "csv").frame.height == 1
    with pytest.raises(BadInput, match=r"unknown readings format 'xlsx'"):
        read_readings(path, "xlsx")


def test_dlt645_frames_become_register_readings_of_the_address_meter(tmp_path: Path) -> None:
    reply = dlt645.energy_reply("000000012345", Decimal("1520.07")).hex(" ").upper()
    path = write(tmp_path, f"ts,frame\n2024-01-01T08:00:00+08:00,FE FE {reply}\n", "frames.csv")

    batch = read_readings(path, "dlt645")

    assert batch.frame.rows() == [("000000012345", utc(0), None, 1520.07)]


def test_a_bad_dlt645_frame_refuses_the_file_naming_its_line_and_why(tmp_path: Path) -> None:
    good = dlt645.energy_reply("000000012345", Decimal("1")).hex()
    broken = good[:-4] + "0016"  # checksum zeroed
    error = dlt645.error_reply("000000012345", 0x02).hex()
    path = write(tmp_path, f"ts,frame\n2024-01-01 08:00,{good}\n2024-01-01 08:15,{broken}\n"
                           f"2024-01-01 08:30,{error}\n2024-01-01 08:45,xyz\n", "frames.csv")

    with pytest.raises(BadInput) as refused:
        read_readings(path, "dlt645")

    assert "frames.csv: column frame: 3 frames are not DL/T 645-2007 replies" in refused.value.detail
    assert "line 3: bad checksum" in refused.value.detail
    assert "line 4: meter 000000012345 replied with an error (ERR 02H: no requested data)" in refused.value.detail
    assert "line 5: not hexadecimal" in refused.value.detail


def test_unknown_meters_are_named_with_the_lines_they_are_on(tmp_path: Path) -> None:
    batch = read_readings(write(tmp_path, "meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n\nm9,2024-01-01 08:00,1\n"))
    assert isinstance(batch, ReadingBatch) and batch.rows is not None

    with pytest.raises(BadInput, match=r"line 4: unknown meter m9 \(not in the site registry\)"):
        check_known_meters(batch.frame, {"m1"}, batch.source, rows=batch.rows, word=batch.row_word)
    check_known_meters(batch.frame, {"m1", "m9"}, batch.source)


def test_long_lists_of_rows_are_summarised() -> None:
    assert rows_text([7], "line") == "line 7"
    assert rows_text([2, 3], "row") == "rows 2 and 3"
    assert rows_text(range(2, 10), "line") == "lines 2, 3, 4, 5, 6 and 3 more"


def test_a_typed_parquet_file_is_scanned_with_the_same_readings_and_notes_as_read(tmp_path: Path) -> None:
    aware = tmp_path / "aware.parquet"
    pl.DataFrame({"meter_id": [" m1", "m2"], "ts": [utc(1), utc(2)], "kwh": [2, 3]}).write_parquet(aware)
    naive = tmp_path / "naive.parquet"
    pl.DataFrame({"meter_id": [42], "ts": [datetime(2024, 1, 1, 9, 0)], "register_kwh": [7.5]}).write_parquet(naive)

    for path, known in ((aware, ["m1", "m2"]), (naive, ["42"])):
        scan, batch = scan_readings(path, known), read_readings(path)
        assert isinstance(scan.frame, pl.LazyFrame)
        assert scan.frame.collect().equals(batch.frame)
        assert (scan.readings, scan.notes) == (len(batch.frame), batch.notes)


@pytest.mark.parametrize(("frame", "message"), [
    (pl.DataFrame({"meter_id": ["m1", "m9", "m1"], "ts": [utc(0), utc(1), utc(2)], "kwh": [1.0, 2.0, 3.0]}),
     "row 2: unknown meter m9"),
    (pl.DataFrame({"meter_id": ["m1", "m1"], "ts": [utc(0), utc(1, 5)], "kwh": [1.0, 2.0]}),
     "row 2: column ts is not the start of a 15-minute interval"),
    (pl.DataFrame({"meter_id": ["m1", "m1"], "ts": [utc(0), utc(1)], "kwh": [float("inf"), 1e7]}),
     "row 1: column kwh is not finite; row 2: column kwh is beyond"),
    (pl.DataFrame({"meter_id": ["m1", ""], "ts": [utc(0), utc(1)], "kwh": [1.0, 2.0]}),
     "row 2: column meter_id is empty"),
])
def test_a_scanned_parquet_file_breaking_a_rule_gets_the_error_naming_its_rows(
        tmp_path: Path, frame: pl.DataFrame, message: str) -> None:
    path = tmp_path / "bad.parquet"
    frame.write_parquet(path)

    with pytest.raises(BadInput, match=message):
        scan_readings(path, ["m1"])
