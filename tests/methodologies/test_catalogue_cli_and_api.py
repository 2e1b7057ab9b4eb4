"""The methodology library as users reach it: the `tanhui methodology` commands and the public API, no login."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tanhui.api.app import create_app
from tanhui.config import Settings
from tanhui.methodologies.catalogue import versions

runner = CliRunner()
WETLAND = ("parcel_id,ecosystem,area_ha,period_start,period_end,leakage_kg\n"
           "W1,mangrove,100,2024-01-01,2024-12-31,1000\n")


def tanhui(*args: str) -> tuple[int, str, str]:
    from tanhui.cli.main import app

    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_calculate_prints_net_buffer_and_issuable_whole_kilograms(tmp_path: Path) -> None:
    data = tmp_path / "wetland.csv"
    data.write_text(WETLAND, encoding="utf-8")
    code, out, _ = tanhui("methodology", "calculate", "WETLAND-SEQ", str(data), "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["net_kg"], result["buffer_kg"], result["issuable_kg"]) == (593_000, 59_300, 533_700)
    assert result["methodology"] == "WETLAND-SEQ@1-IPCC2013"
    code, out, _ = tanhui("methodology", "calculate", "WETLAND-SEQ", str(data))
    assert code == 0 and "533,700" in out


def test_calculate_refuses_bad_data_naming_rows_and_the_file(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,ten\n", encoding="utf-8")
    code, _, err = tanhui("methodology", "calculate", "EV-CHARGE", str(data))
    assert code == 1
    assert f"{data}: 1 problem(s), nothing was taken: row 2: charged_kwh: 'ten' is not a number" in err
    code, _, err = tanhui("methodology", "calculate", "EV-CHARGE", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot read" in err


def test_template_and_document_are_written_where_asked(tmp_path: Path) -> None:
    code, out, _ = tanhui("methodology", "template", "LIGHT-EFF")
    assert code == 0 and out.startswith("fixture_group,period_start,period_end,method,")
    target = tmp_path / "ev.md"
    code, _, _ = tanhui("methodology", "document", "EV-CHARGE@1-EC2023", "--out", str(target))
    text = target.read_text(encoding="utf-8")
    assert code == 0 and text.startswith("# EV-CHARGE@1-EC2023 — 电动汽车充电设施碳减排")
    assert "| `fuel_ncv` | 43.070 | GJ/t | T |" in text


def test_check_exits_one_naming_the_failed_condition(tmp_path: Path) -> None:
    design = tmp_path / "design.json"
    design.write_text(json.dumps({"max_grid_connection_kw": 6500, "site_count": 12}), encoding="utf-8")
    code, _, err = tanhui("methodology", "check", "PV-DIST", "--design", str(design))
    assert code == 1 and "max_grid_connection_kw is 6500, must be < 6000" in err
    design.write_text(json.dumps({"max_grid_connection_kw": 5000, "site_count": 12}), encoding="utf-8")
    code, out, _ = tanhui("methodology", "check", "PV-DIST", "--design", str(design))
    assert code == 0 and "applies" in out
    design.write_text("[1, 2", encoding="utf-8")
    code, _, err = tanhui("methodology", "check", "PV-DIST", "--design", str(design))
    assert code == 1 and "is not JSON" in err


def test_list_shows_every_version() -> None:
    code, out, _ = tanhui("methodology", "list", "--json")
    assert code == 0
    assert [m["reference"] for m in json.loads(out)] == [m.reference for m in versions()]


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=sqlite_url))) as client:
        yield client


def test_the_public_lists_and_reads_methodologies_without_logging_in(client: TestClient) -> None:
    listed = client.get("/api/v1/public/methodologies")
    assert listed.status_code == 200
    assert {m["code"] for m in listed.json()} == {"PV-DIST", "EV-CHARGE", "LIGHT-EFF", "WETLAND-SEQ", "TRAVEL-LOW"}
    assert {m["reference"]: m["state"] for m in listed.json()}["TRAVEL-LOW@1-SHENZHEN"] == "draft"
    one = client.get("/api/v1/public/methodologies/TRAVEL-LOW@1-SHENZHEN").json()
    assert {p["name"]: p["value"] for p in one["parameters"]} == {"e_bus_g_per_km": "26.9", "metro_g_per_km": "46.7"}
    assert client.get("/api/v1/public/methodologies/WETLAND-SEQ").json()["version"] == "1-IPCC2013"


def test_the_template_and_document_download(client: TestClient) -> None:
    template = client.get("/api/v1/public/methodologies/WETLAND-SEQ@1-IPCC2013/template.csv")
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert "WETLAND-SEQ-1-IPCC2013-template.csv" in template.headers["content-disposition"]
    assert next(csv.reader(io.StringIO(template.text))) == [
        "parcel_id", "ecosystem", "area_ha", "period_start", "period_end", "leakage_kg"]
    doc = client.get("/api/v1/public/methodologies/WETLAND-SEQ/document")
    assert doc.status_code == 200 and doc.headers["content-type"].startswith("text/markdown")
    assert "| `buffer_share` | 0.10 | share of net ER | R |" in doc.text


def test_an_unknown_version_is_a_problem_naming_what_exists(client: TestClient) -> None:
    response = client.get("/api/v1/public/methodologies/EV-CHARGE@0/document")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "known: EV-CHARGE@1-EC2023" in response.json()["detail"]
