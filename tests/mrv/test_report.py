"""The monitoring report page: what it states, how it escapes site text, how big it gets, and that it renders."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tanhui.errors import ReportInputInvalid
from tanhui.mrv.frames import INTERVALS_PER_DAY
from tanhui.mrv.report import FLAG_NAMES, PageLimits, render_report, write_report

FACTOR = Decimal("0.5306")  # kgCO2e/kWh = tCO2/MWh; the fixture's grid factor
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HOSTILE_SITE = "<script>document.title='pwned'</script>"
HOSTILE_OWNER = '"><img src=x onerror="document.title=\'pwned\'"> O\'Brien & Sons'


@dataclass
class SiteSpec:
    """A fixture site: who it is, and which of its days carry which flags (day index -> {flag: intervals})."""

    meter_id: str
    site_id: str
    owner: str = "苏州示例光伏有限公司"
    region: str = "SIP"
    capacity_kw: float = 200.0
    troubles: dict[int, dict[str, int]] = field(default_factory=dict)


def build_run(specs: list[SiteSpec], *, start: date = date(2024, 1, 1), days: int = 31,
              seed: int = 7) -> tuple[dict[str, Any], pl.DataFrame]:
    """A summary and daily frame as `tanhui mrv verify` writes them (contract of issue 3), with plausible energy."""
    rng = random.Random(seed)
    weather = [rng.uniform(0.3, 0.95) for _ in range(days)]  # the park's daily clearness
    rows: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []
    for spec in specs:
        performance = rng.uniform(0.78, 0.92)
        reported_total = accepted_total = Decimal(0)
        flag_totals = dict.fromkeys(FLAG_NAMES, 0)
        for offset in range(days):
            clear_sky = round(spec.capacity_kw * 3.4 * (1 + 0.004 * offset), 3)
            reported = round(clear_sky * weather[offset] * performance * rng.uniform(0.95, 1.05), 3)
            trouble = spec.troubles.get(offset, {})
            flagged = min(INTERVALS_PER_DAY, max(trouble.values(), default=0))
            if trouble.get("missing", 0) >= INTERVALS_PER_DAY:
                reported = 0.0
            elif "above_clear_sky" in trouble:
                reported = round(reported + clear_sky * 0.4, 3)
            # The flagged intervals' energy is not credited; daytime energy is spread over ~40 intervals.
            accepted = round(max(reported * (1 - flagged / 40), 0.0), 3)
            rows.append({"meter_id": spec.meter_id, "date": start + timedelta(days=offset), "reported_kwh": reported,
                         "accepted_kwh": accepted, "clear_sky_kwh": clear_sky, "intervals": INTERVALS_PER_DAY,
                         "flagged_intervals": flagged, **{name: trouble.get(name, 0) for name in FLAG_NAMES}})
            reported_total += Decimal(str(reported))
            accepted_total += Decimal(str(accepted))
            for name, count in trouble.items():
                flag_totals[name] += count
        sites.append({
            "meter_id": spec.meter_id, "site_id": spec.site_id, "owner": spec.owner, "region": spec.region,
            "capacity_kw": spec.capacity_kw, "intervals_expected": days * INTERVALS_PER_DAY,
            "reported_kwh": float(reported_total), "accepted_kwh": float(accepted_total),
            "flag_counts": {name: count for name, count in flag_totals.items() if count},
            "reduction_kg": int((accepted_total * FACTOR).to_integral_value(rounding=ROUND_FLOOR)),
        })
    daily = pl.DataFrame(rows, schema={
        "meter_id": pl.String, "date": pl.Date, "reported_kwh": pl.Float64, "accepted_kwh": pl.Float64,
        "clear_sky_kwh": pl.Float64, "intervals": pl.UInt32, "flagged_intervals": pl.UInt32,
        **dict.fromkeys(FLAG_NAMES, pl.UInt32),
    })
    totals_flags: dict[str, int] = {}
    for site in sites:
        for name, count in site["flag_counts"].items():
            totals_flags[name] = totals_flags.get(name, 0) + count
    summary = {
        "format": "tanhui.mrv.summary/1",
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=days - 1)).isoformat(),
                   "timezone": "Asia/Shanghai"},
        "methodology": {
            "code": "PV-DIST", "version": "1.0", "title": "分布式光伏发电 Distributed photovoltaic generation",
            "grid_factor": {"series": "MEE-NBS national average", "data_year": 2023, "region": "CN",
                            "tco2_per_mwh": str(FACTOR), "source": "生态环境部 国家统计局 2023年电力二氧化碳排放因子",
                            "tag": "mee-nbs-2023"},
        },
        "parameters": {"clear_sky_margin": 1.15, "stale_run_intervals": 4, "peer_z_threshold": 3.5},
        "sites": sites,
        "totals": {"sites": len(sites), "reported_kwh": sum(site["reported_kwh"] for site in sites),
                   "accepted_kwh": sum(site["accepted_kwh"] for site in sites),
                   "reduction_kg": sum(site["reduction_kg"] for site in sites), "flag_counts": totals_flags},
        "files": {"intervals.parquet": hashlib.sha256(b"").hexdigest(), "daily.parquet": ""},
        "inputs": [{"path": "readings-2024-01.parquet", "rows": 2_976_000}],
        "notes": ["timestamps without a UTC offset were read as Asia/Shanghai local time (UTC+08:00)"],
        "generated_at": "2024-02-01T09:00:00+08:00",
        "tanhui_version": "0.1.0",
    }
    return summary, daily


def write_run(out_dir: Path, summary: dict[str, Any], daily: pl.DataFrame) -> Path:
    """daily.parquet and summary.json (recording the parquet's SHA-256) in out_dir, as verify leaves them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    daily.write_parquet(out_dir / "daily.parquet")
    summary["files"]["daily.parquet"] = hashlib.sha256((out_dir / "daily.parquet").read_bytes()).hexdigest()
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return out_dir


def park(count: int, *, seed: int = 11) -> list[SiteSpec]:
    """A park of ``count`` sites; about a third have troubles of the kinds the verifier flags."""
    rng = random.Random(seed)
    specs = []
    for number in range(1, count + 1):
        troubles: dict[int, dict[str, int]] = {}
        kind = rng.random()
        if kind < 0.06:  # outage: whole days without data
            first = rng.randrange(25)
            for day in range(first, first + rng.randint(1, 6)):
                troubles[day] = {"missing": INTERVALS_PER_DAY}
        elif kind < 0.16:  # flaky communication
            for day in rng.sample(range(31), rng.randint(2, 8)):
                troubles[day] = {"missing": rng.randint(2, 30)}
        elif kind < 0.22:  # a meter that reads too high on sunny days
            for day in rng.sample(range(31), rng.randint(3, 10)):
                troubles[day] = {"above_clear_sky": rng.randint(3, 12), "outlier": rng.randint(0, 3)}
        elif kind < 0.32:  # stuck values, the odd counter reset
            for day in rng.sample(range(31), rng.randint(1, 4)):
                troubles[day] = {"stale": rng.randint(4, 16), "counter_reset": rng.randint(0, 1)}
        specs.append(SiteSpec(
            meter_id=f"3202{number:08d}", site_id=f"SIP-{number:04d}",
            owner=rng.choice(["苏州工业园区示例电子有限公司", "吴江示例纺织有限公司", "晴川光伏投资（演示）",
                              "Suzhou Example Logistics Co., Ltd."]),
            region=rng.choice(["SIP", "WJ", "XC"]), capacity_kw=rng.choice([60.0, 120.0, 250.0, 480.0, 950.0]),
            troubles=troubles,
        ))
    return specs


def small_park() -> list[SiteSpec]:
    return [
        SiteSpec("320100000001", "SIP-0001", capacity_kw=1_250.5, troubles={4: {"missing": INTERVALS_PER_DAY}}),
        SiteSpec("320100000002", "SIP-0002", troubles={2: {"stale": 8, "outlier": 2}, 9: {"above_clear_sky": 5}}),
        SiteSpec("320100000003", "SIP-0003"),
        SiteSpec("320100000004", HOSTILE_SITE, owner=HOSTILE_OWNER, region="<b>WJ</b>",
                 troubles={6: {"negative": 1}}),
    ]


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities of digits left alone."""
    return re.sub(r"<[^>]+>", " ", page)


def test_page_states_the_period_method_factor_and_totals(tmp_path: Path) -> None:
    summary, daily = build_run(small_park())
    path = write_report(write_run(tmp_path, summary, daily))
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    text = text_of(page)

    assert "2024-01-01 – 2024-01-31" in text and "Asia/Shanghai" in text
    assert "PV-DIST" in text and "v1.0" in text
    assert "0.5306 tCO" in text and "mee-nbs-2023" in text and "2023年电力二氧化碳排放因子" in text
    assert "接受电量" in text and "Accepted energy" in text
    totals = summary["totals"]
    kg = totals["reduction_kg"]
    assert f"{kg:,} kgCO" in text
    assert f"{kg // 1000:,}.{kg % 1000:03d} " in text  # tonnes, exactly
    assert f"{totals['reported_kwh'] / 1000:,.3f}" in text
    assert "1,250.5" in text  # a site's capacity, with a thousands separator


def test_heat_map_cells_name_site_day_and_flags(tmp_path: Path) -> None:
    summary, daily = build_run(small_park())
    page = render_report(summary, daily)

    titles = re.findall(r'<rect x="\d+" width="1" height="1" class="c(\d)"><title>([^<]*)</title>', page)
    outage = [css for css, title in titles if title.startswith("320100000001 · SIP-0001 · 2024-01-05")]
    assert outage == ["5"]  # a whole day missing: the darkest class
    assert any("2024-01-03" in title and "stale 8, outlier 2" in title
               and "8/96" in title for _, title in titles)
    # The clean site has no heat-map row; the page counts it among the sites without flags.
    assert "320100000003 · SIP-0003 —" not in page
    assert "3 of 4 sites have flagged intervals" in page


def test_site_text_from_the_data_is_escaped(tmp_path: Path) -> None:
    summary, daily = build_run(small_park())
    page = write_report(write_run(tmp_path, summary, daily)).read_text(encoding="utf-8")

    assert HOSTILE_SITE not in page and "<img" not in page and "<b>WJ" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=&quot;" in page and "O&#x27;Brien &amp; Sons" in page
    assert page.count("<script") == 1  # the page's own table script only
    # Self-contained: nothing to fetch, and the policy forbids fetching anyway.
    assert not re.search(r"<(link|img|iframe|object|embed)\b|<script[^>]+src|url\(", page)
    assert "default-src 'none'" in page


def test_no_flags_in_the_period_is_said_plainly() -> None:
    summary, daily = build_run([SiteSpec("320100000009", "SIP-0009")])
    text = text_of(render_report(summary, daily))
    assert "No interval was flagged in this period." in text
    assert "No site has flagged intervals." in text


def test_a_thousand_site_month_is_complete_and_light(tmp_path: Path) -> None:
    summary, daily = build_run(park(1_000))
    page = write_report(write_run(tmp_path, summary, daily)).read_text(encoding="utf-8")

    flagged_sites = sum(1 for site in summary["sites"] if site["flag_counts"])
    assert page.count("<tr data-flagged=") == 1_000  # every site in the table, with its daily chart
    assert page.count('<svg class="spark"') == 1_000
    assert page.count('<rect class="c0"') == flagged_sites  # one heat-map row per flagged site
    assert page.count('<figure class="card">') == 12
    assert len(page.encode("utf-8")) < 2_500_000


def test_a_year_long_period_is_drawn_whole() -> None:
    summary, daily = build_run(park(12, seed=5), days=366)
    page = render_report(summary, daily)

    assert "2024-01-01 – 2024-12-31" in text_of(page) and "366 天 days" in page
    assert ">2024-12</text>" in page  # the last month is on the axes
    assert "2024-12-31 — " in page  # and its last day in the park chart's tooltips


def test_a_run_beyond_the_limits_says_what_it_left_out() -> None:
    summary, daily = build_run(park(40), days=10)
    flagged = sum(1 for site in summary["sites"] if site["flag_counts"])
    page = render_report(summary, daily, PageLimits(detail_sites=2, table_sites=5, heatmap_cells=30))

    assert page.count("<tr data-flagged=") == 5
    assert "showing the 5 of 40 sites with the most uncredited energy (summary.json lists all)" in page
    assert page.count('<rect class="c0"') == 3
    assert f"{flagged} of 40 sites have flagged intervals" in page and "the first 3 are drawn" in page
    assert page.count('<figure class="card">') == 2
    # The table keeps the sites with the most uncredited energy.
    uncredited = sorted(summary["sites"], key=lambda site: site["accepted_kwh"] - site["reported_kwh"])[:5]
    for site in uncredited:
        assert f"<td>{site['meter_id']}</td>" in page


def _drop_column(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    return daily.drop("stale")


def _unknown_meter(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([daily, daily.head(1).with_columns(pl.lit("999999999999").alias("meter_id"))])


def _outside_period(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([daily, daily.head(1).with_columns(pl.lit(date(2024, 2, 1)).alias("date"))])


def _absent_meter(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    return daily.filter(pl.col("meter_id") != "320100000003")


def _repeated_day(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    return pl.concat([daily, daily.slice(33, 1)])


def _meter_twice(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    summary["sites"].append(dict(summary["sites"][1]))
    return daily


def _wrong_format(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    summary["format"] = "tanhui.mrv.summary/9"
    return daily


def _no_factor_source(daily: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    del summary["methodology"]["grid_factor"]["source"]
    return daily


@pytest.mark.parametrize(("spoil", "message"), [
    (_drop_column, "daily.parquet: missing column(s) stale"),
    (_unknown_meter, "daily.parquet: meter(s) not in summary.json: 999999999999"),
    (_outside_period, "1 row(s) lie outside the period 2024-01-01 – 2024-01-31, the first for meter 320100000001 "
                      "on 2024-02-01"),
    (_absent_meter, "no rows for meter(s) 320100000003 listed in summary.json"),
    (_repeated_day, "1 meter-day(s) have more than one row, the first meter 320100000002 on 2024-01-03 (2 rows)"),
    (_meter_twice, "summary.json: meter(s) listed more than once in sites: 320100000002"),
    (_wrong_format, "format is 'tanhui.mrv.summary/9', expected 'tanhui.mrv.summary/1'"),
    (_no_factor_source, "summary.json: missing methodology.grid_factor.source"),
])
def test_inputs_that_do_not_fit_are_refused_and_change_nothing(tmp_path: Path, spoil: Any, message: str) -> None:
    summary, daily = build_run(small_park())
    daily = spoil(daily, summary)
    write_run(tmp_path, summary, daily)
    (tmp_path / "report.html").write_text("an earlier report", encoding="utf-8")

    with pytest.raises(ReportInputInvalid) as refused:
        write_report(tmp_path)
    assert message in str(refused.value)
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == "an earlier report"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["daily.parquet", "report.html", "summary.json"]


def test_daily_file_from_another_run_is_refused(tmp_path: Path) -> None:
    summary, daily = build_run(small_park())
    write_run(tmp_path, summary, daily)
    daily.head(10).write_parquet(tmp_path / "daily.parquet")

    with pytest.raises(ReportInputInvalid, match=r"differs from .* recorded in summary\.json"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_missing_or_broken_summary_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputInvalid, match=r"summary\.json: not found"):
        write_report(tmp_path)
    (tmp_path / "summary.json").write_text('{"format": ', encoding="utf-8")
    with pytest.raises(ReportInputInvalid, match=r"summary\.json: not valid JSON at line 1"):
        write_report(tmp_path)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed (CI=true: the rendering test must run)", pytrace=False)
        pytest.skip("chromium is not installed")
    return found


def _dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after headless Chromium loaded it and ran its scripts."""
    chromium = _chromium()
    profile.mkdir()
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_chromium_runs_the_page_script_and_none_from_the_data(tmp_path: Path) -> None:
    summary, daily = build_run([*small_park(), *park(200)])
    page = write_report(write_run(tmp_path / "run", summary, daily))
    dom = _dump_dom(page, tmp_path / "profile")
    # The page's own script ran (its hash matches the Content-Security-Policy): it marks the document.
    assert re.search(r'<html[^>]*class="js"', dom), dom[:300]
    # Nothing from the data became an element or ran.
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)  # type: ignore[union-attr]
    assert "<img" not in dom
    assert dom.count("<tr data-flagged=") == 204


def test_chromium_filters_and_sorts_the_site_table(tmp_path: Path) -> None:
    summary, daily = build_run(park(60))
    page = write_report(write_run(tmp_path / "run", summary, daily)).read_text(encoding="utf-8")
    # Drive the page's own script as a user would: type a filter, then sort by reported energy, largest first.
    driver = """<script>
    const q = document.getElementById("q");
    q.value = "sip-001"; q.dispatchEvent(new Event("input"));
    const filtered = Array.from(document.querySelectorAll("#sites tbody tr")).filter(r => !r.hidden).length;
    q.value = ""; q.dispatchEvent(new Event("input"));
    const reported = document.querySelectorAll("#sites thead th")[5];
    reported.click(); reported.click();
    const first = document.querySelector("#sites tbody tr td").textContent;
    document.body.dataset.result = [filtered, document.getElementById("shown").textContent, first].join("|");
    </script>"""
    page = re.sub(r"script-src 'sha256-[^']+'", "script-src 'unsafe-inline'", page).replace("</body>",
                                                                                          driver + "</body>")
    driven = tmp_path / "driven.html"
    driven.write_text(page, encoding="utf-8")
    dom = _dump_dom(driven, tmp_path / "profile")

    largest = max(summary["sites"], key=lambda site: site["reported_kwh"])["meter_id"]
    assert 'data-result="10|60|' + largest + '"' in dom  # SIP-0010 … SIP-0019 match the filter
