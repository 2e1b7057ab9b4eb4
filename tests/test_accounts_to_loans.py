"""From imported energy records to a bank's quote: accounting, benchmarks, the credit report, consent and terms."""

from __future__ import annotations

from tanhui.accounts import credit_report as reports
from tanhui.accounts.credit_report_pdf import page_text, stored_report_pdf
from tanhui.accounts.periods import Period
from tanhui.accounts.profiles import compute_benchmarks
from tanhui.finance import consent, products
from tanhui.finance.loans import product_json
from tanhui.journal.audit import verify
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World
from tests.test_accounts_services import _id, quzhou  # noqa: F401 (a fixture)

QUZHOU_PRODUCT = "QZ-INDUSTRIAL-CARBON-REDUCTION"


def test_a_holders_records_become_a_report_a_bank_reads_under_consent_and_prices(quzhou: World) -> None:  # noqa: F811
    world = quzhou
    holder = _id(world, "QZ-001")
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        compute_benchmarks(tx, world.operator, 2023)
        # The enterprise logs in as the registry's buyer organisation, which acts for the holder.
        row = reports.issue_holder_report(tx, world.operator, holder, Period.parse("2023"),
                                          holder_organization_id=world.buyer_org)
        tx.commit()
    # The figures of tests/test_accounts_services.py's hand-worked QZ-001, now in the issued report.
    assert (row["holder_name"], row["label"], row["carbon_efficiency_grade"], row["credit_rating"]) == (
        "Quzhou Cement", "light_green", "2", "AA")
    profile, _ = reports.stored_profile(row)
    assert profile.emissions_kg == 83036 and profile.retired_offsets_kg == 0
    text = page_text(stored_report_pdf(row, "https://tanhui.example"))
    assert "Quzhou Cement" in text and "碳征信报告" in text and row["content_sha256"] in text.replace("\n", "")

    with UnitOfWork(world.engine, world.bank.actor) as tx:
        products.define(tx, world.bank, bank_organization_id=world.bank_org,
                        definition=product_json(products.example(QUZHOU_PRODUCT)))
        tx.commit()
    buyer = world.buyer
    with UnitOfWork(world.engine, buyer.actor) as tx:
        consent.grant(tx, buyer, holder_id=holder, bank_organization_id=world.bank_org, scope="full", days=30)
        tx.commit()
    priced = products.quote_for(world.engine, world.bank, bank_organization_id=world.bank_org, code=QUZHOU_PRODUCT,
                                holder_id=holder, normal_limit_fen=100_000_000, base_rate_bp=385)
    assert priced.report["id"] == row["id"] and priced.quote.eligible
    assert priced.quote.limit_fen == 150_000_000  # the seed's 1.5× for a green label
    assert any("light_green" in reason for reason in priced.quote.reasons)
    with world.engine.connect() as conn:
        log = consent.access_log(conn, buyer, holder)
    assert [(entry["kind"], entry["allowed"]) for entry in log] == [("quote", True)]
    assert verify(world.engine).ok
