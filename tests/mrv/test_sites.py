"""The site registry CSV: typed sites, or every problem named by line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tanhui.errors import BadInput
from tanhui.mrv.frames import SITE_SCHEMA
from tanhui.mrv.sites import read_sites

HEADER = "meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned"
GOOD = "M001,S01,Suzhou Solar Co,120.5,31.30,120.62,Jiangsu,2023-05-01"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sites.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_sites_are_typed_with_optional_columns_null_where_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER},tilt,azimuth\n{GOOD},25,180\nM002,S01,Suzhou Solar Co,60,31.3,120.62,Jiangsu,"
                           "2023-06-15,,\n\n")

    sites = read_sites(path)

    assert sites.schema == pl.Schema(SITE_SCHEMA)
    assert sites["meter_id"].to_list() == ["M001", "M002"]
    assert sites.row(0, named=True) == {
        "meter_id": "M001", "site_id": "S01", "owner": "Suzhou Solar Co", "capacity_kw": 120.5, "latitude": 31.3,
        "longitude": 120.62, "region": "Jiangsu", "commissioned": date(2023, 5, 1), "tilt": 25.0, "azimuth": 180.0,
        "grid_point": None,
    }
    assert sites.row(1, named=True)["tilt"] is None


@pytest.mark.parametrize(("rows", "message"), [
    (f"{GOOD}\n{GOOD}\n", r"lines 2 and 3: column meter_id repeats a meter"),
    ("M1,S1,O,0,31,120,JS,2023-01-01\n", r"line 2: column capacity_kw must be above 0"),
    ("M1,S1,O,-3,31,120,JS,2023-01-01\n", r"line 2: column capacity_kw must be above 0"),
    ("M1,S1,O,big,31,120,JS,2023-01-01\n", r"line 2: column capacity_kw is not a number"),
    ("M1,S1,O,inf,31,120,JS,2023-01-01\n", r"line 2: column capacity_kw is not finite"),
    ("M1,S1,O,5,91,120,JS,2023-01-01\n", r"line 2: column latitude must be between -90 and 90 degrees"),
    ("M1,S1,O,5,31,181,JS,2023-01-01\n", r"line 2: column longitude must be between -180 and 180 degrees"),
    ("M1,S1,O,5,31,120,JS,2023-02-30\n", r"line 2: column commissioned is not a date like 2024-01-31"),
    ("M1,S1,,5,31,120,JS,2023-01-01\n", r"line 2: column owner is empty"),
    ("M1,S1,O,5,31,120, ,2023-01-01\n", r"line 2: column region is empty"),
])
def test_bad_cells_are_named_by_line_and_column(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_sites(write(tmp_path, f"{HEADER}\n{rows}"))


@pytest.mark.parametrize(("cells", "message"), [
    ("91,180", r"line 2: column tilt must be between 0 and 90 degrees"),
    ("30,361", r"line 2: column azimuth must be between 0 and 360 degrees"),
    ("30,south", r"line 2: column azimuth is not a number"),
])
def test_orientation_must_be_in_range_where_given(tmp_path: Path, cells: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_sites(write(tmp_path, f"{HEADER},tilt,azimuth\n{GOOD},{cells}\n"))


def test_all_problems_are_listed_together(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as refused:
        read_sites(write(tmp_path, f"{HEADER}\n{GOOD}\nM2,S2,O,-1,31,120,JS,2023-01-01\nM3,S3,O,1,95,120,JS,soon\n"))

    assert "line 3: column capacity_kw must be above 0" in refused.value.detail
    assert "line 4: column latitude must be between" in refused.value.detail
    assert "line 4: column commissioned is not a date" in refused.value.detail


@pytest.mark.parametrize(("text", "message"), [
    ("", r"sites\.csv: the file is empty"),
    (f"{HEADER}\n", r"sites\.csv: the file has a header but no sites"),
    ("meter_id,site_id,owner,capacity_kw,latitude,longitude,region\nM1,S1,O,5,31,120,JS\n",
     r"sites\.csv: the header must be .*; missing commissioned"),
    (f"{HEADER},azimut\n{GOOD},180\n", r"unknown azimut"),
])
def test_files_of_the_wrong_shape_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        read_sites(write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"nothere\.csv: no such file"):
        read_sites(tmp_path / "nothere.csv")
