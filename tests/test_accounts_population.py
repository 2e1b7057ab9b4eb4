"""The columnar path agrees exactly with the per-holder functions: emissions, benchmarks, grades, labels, ratings."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pyarrow as pa

from tanhui.accounts.accounting import account, intensity, province_factors
from tanhui.accounts.benchmarks import benchmark_of
from tanhui.accounts.energy import EnergyRecord
from tanhui.accounts.evaluation import Standing, evaluate
from tanhui.accounts.population import benchmarks_of_population, evaluate_population

TYPES = [("electricity", "kWh", 100_000_000), ("green_electricity", "kWh", 30_000_000), ("heat", "GJ", 500_000),
         ("natural_gas", "Nm3", 50_000_000), ("natural_gas", "10^4 Nm3", 5_000), ("diesel", "t", 20_000),
         ("gasoline", "t", 20_000), ("lpg", "t", 5_000), ("fuel_oil", "t", 5_000), ("anthracite", "t", 200_000),
         ("bituminous_coal", "t", 200_000), ("lignite", "t", 200_000), ("washed_coal", "t", 100_000),
         ("coke", "t", 100_000)]
REGIONS = [("QUZHOU", "zhejiang"), ("JIAXING", "zhejiang"), ("SIP", "jiangsu"), ("HEFEI", "anhui")]


def _population(seed: int, holders: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    people, records = [], []
    for holder_id in range(1, holders + 1):
        region, province = rng.choice(REGIONS)
        va = rng.choice([0, rng.randrange(1, 10**9), rng.randrange(1, 10**7)])
        prev = rng.random() < 0.7
        people.append({
            "holder_id": holder_id, "province": province, "industry": rng.choice(["C30", "C26", "C22"]),
            "region": region, "va_yuan": va, "ov_yuan": rng.choice([0, va * rng.randrange(1, 6)]),
            "prev_kg": rng.randrange(0, 10**7) if prev else None,
            "prev_va_yuan": rng.randrange(0, 10**8) if prev else None,
            "pollution_score": rng.choice([None, rng.randrange(0, 101)]),
            "area": rng.choice(["industry", "buildings"]),
        })
        for month in rng.sample(range(1, 13), rng.randrange(0, 12)):
            for _ in range(rng.randrange(1, 3)):
                code, unit, high = rng.choice(TYPES)
                records.append({"holder_id": holder_id, "energy_type": code, "unit": unit,
                                "year": rng.choice([2022, 2023]), "month": month,
                                "area": rng.choice([people[-1]["area"], "transport"]),
                                # 150 and 500 thousandths make exact halves; 10¹⁵ (10¹² units, the most a
                                # record may hold) needs HUGEINT arithmetic
                                "quantity_milli": rng.choice([rng.randrange(0, high), 150, 500, 10**15])})
    # Holders exactly at thresholds, where a floating-point comparison could go either way.
    at = [  # (value added, output value, previous kg, previous value added, green kWh) with 1 GJ of heat = 110 kg
        (35, 100, None, None, 0), (25, 100, None, None, 0), (15, 100, None, None, 0),  # economy 0.35, 0.25, 0.15
        (1000, 2000, 110, 1050, 0), (1000, 2000, 110, 950, 0),  # history 110·1050 / (1000·110) = 1.05; 0.95
        (1000, 2000, None, None, 500), (1000, 2000, None, None, 200), (1000, 2000, None, None, 50),  # energy
    ]
    for offset, (va, ov, prev_kg, prev_va, green) in enumerate(at):
        holder_id = holders + 1 + offset
        people.append({"holder_id": holder_id, "province": "zhejiang", "industry": "C30", "region": "QUZHOU",
                       "va_yuan": va, "ov_yuan": ov, "prev_kg": prev_kg, "prev_va_yuan": prev_va,
                       "pollution_score": [60, 75, 90][offset % 3], "area": "industry"})
        base = {"holder_id": holder_id, "year": 2023, "month": 5, "area": "industry"}
        records.append({**base, "energy_type": "heat", "unit": "GJ", "quantity_milli": 1000})
        if green:
            records.append({**base, "energy_type": "electricity", "unit": "kWh", "quantity_milli": 1_000_000})
            records.append({**base, "energy_type": "green_electricity", "unit": "kWh", "quantity_milli": green * 1000})
    return people, records


def test_the_columnar_path_agrees_with_the_exact_functions() -> None:
    people, records = _population(7, 400)
    # The database keeps one record per holder, type, period and source: drop the sample's repeats likewise.
    seen: set[tuple[Any, ...]] = set()
    unique: list[dict[str, Any]] = []
    for r in records:
        key = (r["holder_id"], r["energy_type"], r["unit"], r["year"], r["month"], r["area"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    columns = {k: [p[k] for p in people] for k in people[0] if k != "area"}
    holders_table = pa.table(columns)
    records_table = pa.table({k: [r[k] for r in unique] for k in unique[0]})
    result = sorted(evaluate_population(holders_table, records_table).to_pylist(), key=lambda row: row["holder_id"])

    exact: dict[int, tuple[int, Fraction]] = {}
    accounted = {}
    by_holder: dict[int, list[EnergyRecord]] = {p["holder_id"]: [] for p in people}
    for i, r in enumerate(unique):
        year, month = r["year"], r["month"]
        by_holder[r["holder_id"]].append(EnergyRecord(
            i, r["energy_type"], r["unit"], Decimal(r["quantity_milli"]) / 1000,
            date(year, month, 1), date(year, month, 28), "s", True, r["area"]))
    for p in people:
        hid = p["holder_id"]
        done = account(by_holder[hid], province_factors(p["province"]))
        accounted[hid] = done
        exact[hid] = (done.emissions_kg, Fraction(p["va_yuan"], 10_000))
    groups: dict[tuple[str, str], list[int]] = {}
    for p in people:
        if p["va_yuan"]:
            groups.setdefault((p["industry"], p["region"]), []).append(p["holder_id"])
    benches = {key: benchmark_of(*key, 2023, [exact[h] for h in ids], "test") for key, ids in groups.items()}
    regions = {region: benchmark_of("*", region, 2023, [exact[h] for p in people if p["region"] == region
                                                        and p["va_yuan"] for h in [p["holder_id"]]], "test")
               for _, region in groups}

    columnar_bench = {(b["industry"], b["region"]): b for b in benchmarks_of_population(holders_table,
                                                                                      records_table).to_pylist()}
    assert len(columnar_bench) == len(benches) + len(regions)
    for key, bench in [*benches.items(), *((("*", region), b) for region, b in regions.items())]:
        assert bench is not None
        got = columnar_bench[key]
        assert got["n"] == bench.holders
        for name in ("p10", "p25", "median", "p75", "p90"):
            assert Fraction(got[f"{name}_kg"] * 10, got[f"{name}_va"]) == getattr(bench, name), (key, name)
        assert Fraction(got["sum_kg"] * 10, got["sum_va"]) == bench.average

    outcomes = {"grade": 0, "label": 0, "rating": 0}
    for p, row in zip(people, result, strict=True):
        hid = p["holder_id"]
        done = accounted[hid]
        assert row["holder_id"] == hid
        assert (row["emissions_kg"], row["scope1_kg"], row["scope2_kg"], row["green_deducted_kg"]) == (
            done.emissions_kg, done.scope1_kg, done.scope2_kg, done.green_deducted_kg), hid
        va = Fraction(p["va_yuan"], 10_000)
        bench = benches.get((p["industry"], p["region"])) if p["va_yuan"] else None
        region = regions.get(p["region"]) if p["va_yuan"] else None
        prev = None if p["prev_kg"] is None else intensity(p["prev_kg"], Fraction(p["prev_va_yuan"], 10_000))
        electricity = sum((Fraction(line.record.quantity) for line in done.lines
                           if line.record.energy_type == "electricity"), Fraction(0))
        green = sum((Fraction(line.record.quantity) for line in done.green_lines), Fraction(0))
        label, grade, rating = evaluate(Standing(
            intensity=intensity(done.emissions_kg, va), industry_median=bench.median if bench else None,
            industry_average=bench.average if bench else None, region_average=region.average if region else None,
            previous_intensity=prev, value_added=va if p["va_yuan"] else None,
            output_value=Fraction(p["ov_yuan"], 10_000),
            green_kwh=green, electricity_kwh=electricity, pollution_score=p["pollution_score"]))
        assert row["grade"] == (grade.outcome if grade else None), hid
        assert row["label"] == (label.outcome if label else None), hid
        assert row["rating"] == (rating.outcome if rating else None), hid
        for name, value in (("grade", grade), ("label", label), ("rating", rating)):
            outcomes[name] += value is not None
    # The sample exercises every scheme on most holders, not only the holders without value added.
    assert min(outcomes.values()) > 150, outcomes
