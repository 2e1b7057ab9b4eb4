"""Carbon credit reports: the content and hash anyone can recompute, the bilingual PDF, issuing and refusing."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from pypdf import PdfReader

from tanhui.accounts import credit_report as reports
from tanhui.accounts import credit_report_pdf as rendering
from tanhui.errors import InvalidRequest, PermissionDenied
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.finance.profiles import profile

ISSUED = datetime(2026, 1, 15, 8, 30, 0, 123456, tzinfo=UTC)


def _pdf(issued_profile=None) -> tuple[bytes, str, str]:  # type: ignore[no-untyped-def]
    shown = issued_profile or profile()
    content = reports.report_content(shown, ISSUED)
    text, digest = reports.content_text(content), reports.content_hash(content)
    pdf = rendering.render_pdf(shown, issued_at=ISSUED, report_id=12, content_sha256=digest, content=text,
                               verify_url="https://tanhui.example.org/api/v1/public/credit-reports/12")
    return pdf, text, digest


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_hash_is_sha256_of_the_canonical_content() -> None:
    content = reports.report_content(profile(), ISSUED)
    text = reports.content_text(content)
    assert reports.content_hash(content) == hashlib.sha256(text.encode()).hexdigest()
    assert text.startswith('{"format":"tanhui-credit-report@1","issued_at":"2026-01-15T08:30:00.123456Z"')
    # Exact figures, never floats: 5,399,000 kg over 18,250 (10k yuan) value added.
    assert '"intensity_per_value_added":"5399/18250"' in text
    assert '"name":"衢州绿源新材料有限公司"' in text  # UTF-8, not \\u escapes
    # Any change to what the report states changes the hash; so does the issue time.
    assert reports.content_hash(reports.report_content(profile(retired_offsets_kg=150_001), ISSUED)) != \
        reports.content_hash(content)
    assert reports.content_hash(reports.report_content(profile(), ISSUED.replace(microsecond=0))) != \
        reports.content_hash(content)


def test_a_profile_round_trips_through_its_json() -> None:
    original = profile()
    assert reports.profile_from_json(reports.profile_json(original)) == original


@pytest.mark.parametrize(("change", "phrase"), [
    ({"emissions_kg": 1}, "emissions_by_area_kg adds up to 5399000 kgCO2e, not the total 1"),
    ({"retired_offsets_kg": -5}, "retired_offsets_kg must be a whole, non-negative number"),
    ({"monthly_emissions_kg": (("2024-12", 5),)}, "month '2024-12' is not a YYYY-MM month of the period"),
    ({"area": "space"}, "area must be one of industry"),
    ({"holder_id": 0}, "holder_id must be a positive whole number"),
])
def test_a_profile_that_does_not_add_up_is_refused(change: dict[str, object], phrase: str) -> None:
    with pytest.raises(InvalidRequest, match=phrase):
        reports.check_profile(dataclasses.replace(profile(), **change))


def test_the_pdf_states_the_report_in_chinese_and_english() -> None:
    pdf, text, digest = _pdf()
    extracted = _text(pdf)
    for phrase in ("碳征信报告", "Carbon Credit Report", "衢州绿源新材料有限公司", "91330800MA28F3KX4H",
                   "浅绿 light green", "2 级 grade 2", "AA", "数据质量说明", "Data-quality statement",
                   "5,399.000", "2,278.500", "3,120.500", "260.400", "150.000", "工业 Industry", "交通 Transport",
                   "0.2958", "0.3900", "grid:Zhejiang:2022", "0.5153", "未核实 unverified", "K = 0.758 ≤ 0.8",
                   "48 metered (80.0 %)", "月度排放", "25/12", digest):
        assert phrase in extracted, phrase
    assert rendering.attached_content(pdf) == text
    assert hashlib.sha256(rendering.attached_content(pdf).encode()).hexdigest() == digest  # type: ignore[union-attr]


def test_the_pdf_embeds_an_installed_cjk_font() -> None:
    """.ci/run installs fonts-wqy-microhei, so CI exercises the embedded path, not only the fallback."""
    font = rendering.report_font()
    if not font.embedded:
        message = "no CJK TrueType font of FONT_CANDIDATES is installed (apt-get install fonts-wqy-microhei)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    pdf, _, _ = _pdf()
    files = [page["/Resources"]["/Font"][name].get_object() for page in PdfReader(io.BytesIO(pdf)).pages
             for name in page["/Resources"]["/Font"]]
    embedded = [font for font in files if "/FontFile2" in font.get("/FontDescriptor", {})
                or any("/FontFile2" in part.get_object().get("/FontDescriptor", {})
                       for part in font.get("/DescendantFonts", []))]
    assert embedded, "the report's CJK font is not embedded"
    assert font.origin in _text(pdf)


def test_the_pdf_falls_back_to_reportlabs_cid_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "FONT_CANDIDATES", ())
    rendering.report_font.cache_clear()
    try:
        assert rendering.report_font().name == "STSong-Light"
        pdf, _, _ = _pdf()
        assert "碳征信报告" in _text(pdf) and "浅绿 light green" in _text(pdf)
    finally:
        rendering.report_font.cache_clear()


def test_a_report_without_evaluations_or_months_still_renders() -> None:
    bare = profile(label=None, carbon_efficiency=None, credit_rating=None, monthly_emissions_kg=(), factors=(),
                   benchmark_intensity=None, value_added_10k_yuan=None, intensity_per_value_added=None)
    extracted = _text(_pdf(bare)[0])
    assert "未评价" in extracted and "No monthly data" in extracted


def test_exact_display_rounds_half_up() -> None:
    assert rendering.exact(Fraction(5399, 18250)) == "0.2958"
    assert rendering.exact(Fraction(-1, 8), 2) == "-0.13"
    assert rendering.tonnes(1_234_567) == "1,234.567"
    assert rendering.decimal(Fraction("389.31")) == "389.31"


def test_only_the_operator_issues_and_a_bad_profile_changes_nothing(world: World) -> None:
    before = snapshot(world.engine)
    with UnitOfWork(world.engine, world.bank.actor) as tx, pytest.raises(PermissionDenied, match="operator"):
        reports.issue_report(tx, world.bank, profile(), holder_organization_id=world.buyer_org)
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(InvalidRequest, match="adds up"):
        reports.issue_report(tx, world.operator, profile(emissions_kg=3), holder_organization_id=world.buyer_org)
    assert snapshot(world.engine) == before
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        row = reports.issue_report(tx, world.operator, profile(), holder_organization_id=world.buyer_org)
        tx.commit()
    with world.engine.connect() as conn:
        stored = reports.get_report(conn, row["id"])
    shown, issued_at = reports.stored_profile(stored)
    assert shown == profile()
    assert reports.content_hash(reports.report_content(shown, issued_at)) == stored["content_sha256"]
    assert reports.public_view(stored)["label"] == "light_green"


def test_a_residents_report_names_the_kind_and_area() -> None:
    total = sum(kg for _, kg in profile().monthly_emissions_kg)
    resident = profile(holder_kind="resident", name="张三 <Zhang San>", unified_social_credit_code=None,
                       industry_code=None, area="daily_life", emissions_by_area_kg={"daily_life": total})
    extracted = _text(_pdf(resident)[0])
    assert "居民 resident" in extracted and "居民生活 Daily life" in extracted and "张三 <Zhang San>" in extracted
