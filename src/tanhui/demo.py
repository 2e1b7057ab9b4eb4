"""The demo registry: a small Suzhou Industrial Park story, seeded through the ledger services.

Every name is invented; no real company is meant.  All demo users share one password, ``DEMO_PASSWORD``,
which the README documents: a demo database must never hold real credits.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tanhui.accounts import credit_report, importing
from tanhui.accounts.periods import Period
from tanhui.accounts.profiles import compute_benchmarks
from tanhui.accounts.register import holder_by_reference
from tanhui.finance import products
from tanhui.finance.loans import product_json
from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.projects import declarations
from tanhui.regions import compliance
from tanhui.regions import transfers as regions
from tanhui.registry import ledger
from tanhui.unit_of_work import UnitOfWork

DEMO_PASSWORD = "tanhui-demo-2026"
# The journal's actor for the seeding transaction; each act inside it names the demo user who made it.
DEMO_ACTOR = "demo:seed"

OPERATOR = "碳惠演示运营方 Tanhui Demo Operator"
INVESTOR = "晴川光伏投资（演示） Qingchuan PV Investment (demo)"
BUYER = "吴江示例电子（演示） Wujiang Example Electronics (demo)"
BANK = "苏绿示例银行（演示） Sulv Example Bank (demo)"
VERIFIER = "华信示例认证（演示） Huaxin Example Certification (demo)"

PROJECT = "SIP rooftop PV bundle 2024 / 园区屋顶光伏打包项目"
METHODOLOGY = "PV-DIST"
REGION = "SIP"
VINTAGE = 2024
ISSUED = 1_200_000  # kgCO2e, i.e. 1,200 t
TRANSFERRED = 500_000  # the 500 t the Wujiang buyer bought across district lines
RETIRED = 100_000
PLEDGED = 200_000


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """One demo user: who they are and what to try as them."""

    username: str
    organization: str
    kind: str
    tries: str


DEMO_LOGINS = (
    DemoLogin("operator", OPERATOR, "operator", "onboard organisations, issue, cancel, revoke / 开户、签发"),
    DemoLogin("investor", INVESTOR, "project_owner", "holds the PV credits: transfer, pledge / 转让、质押"),
    DemoLogin("buyer", BUYER, "buyer", "bought 500 t, retired 100 t: retire more / 抵消"),
    DemoLogin("bank", BANK, "bank", "holds a 200 t pledge: release it / 解除质押"),
    DemoLogin("verifier", VERIFIER, "verifier", "reviews monitoring reports named to it / 核证监测报告"),
)
CHARGERS = "SIP public charging piles / 园区公共充电桩"
# Carbon accounts (2023: the newest year with provincial grid factors): the Wujiang buyer and three peers of its
# industry, so that benchmarks, label, grade and rating have a population to compare with.
ACCOUNTS_YEAR = 2023
HOLDER = "WJ-001"
LOAN_PRODUCT = "QZ-INDUSTRIAL-CARBON-REDUCTION"
_HOLDERS = f"""reference,kind,name,unified_social_credit_code,industry_code,region,area
{HOLDER},enterprise,{BUYER},91320509MA1XDK000X,C3982,WUJIANG,industry
WJ-002,enterprise,吴江示例精密（演示） Wujiang Example Precision (demo),91320509MA1XDK0011,C3971,WUJIANG,industry
WJ-003,enterprise,吴江示例光电（演示） Wujiang Example Optoelectronics (demo),91320509MA1XDK0024,C3976,WUJIANG,industry
WJ-004,enterprise,吴江示例电路（演示） Wujiang Example Circuits (demo),91320509MA1XDK0037,C3982,WUJIANG,industry
"""
# Value added and output value in 10k yuan; WJ-001 also has 2022 for the historical dimension.
_ECONOMICS = [(HOLDER, 2022, 5200, 1500), (HOLDER, 2023, 5600, 1700), ("WJ-002", 2023, 3000, 800),
              ("WJ-003", 2023, 4000, 900), ("WJ-004", 2023, 2500, 600)]
# Monthly electricity (kWh) per holder and year, and WJ-001's natural gas (10^4 Nm3) in winter months.
_ELECTRICITY = {(HOLDER, 2022): 210_000, (HOLDER, 2023): 190_000, ("WJ-002", 2023): 150_000,
                ("WJ-003", 2023): 260_000, ("WJ-004", 2023): 120_000}
EMISSIONS_2025 = 10_000_000  # kgCO2e verified for the Wujiang buyer's 2025 compliance year


def seed_demo(engine: Engine, *, registry: str = "TH", credit_type: str = "PHCER") -> bool:
    """Seed the demo registry in one transaction; False, changing nothing, when any organisation exists."""
    with UnitOfWork(engine, DEMO_ACTOR) as tx:
        if tx.conn.execute(select(func.count()).select_from(organizations)).scalar_one():
            return False
        # The operator organisation and its admin are made as `tanhui bootstrap` makes them (no principal).
        operator_org = identity.create_organization(tx, None, name=OPERATOR, kind="operator")
        operator_user = identity.create_user(tx, None, organization_id=operator_org["id"],
                                             username="operator", password=DEMO_PASSWORD, role="admin")
        operator = identity.principal_for_user(tx.conn, operator_user)
        principals = {"operator": operator}
        for login in DEMO_LOGINS[1:]:
            org = identity.create_organization(tx, operator, name=login.organization, kind=login.kind)
            user = identity.create_user(tx, operator, organization_id=org["id"], username=login.username,
                                        password=DEMO_PASSWORD, role="admin")
            principals[login.username] = identity.principal_for_user(tx.conn, user)
        investor, buyer, bank = (principals[u] for u in ("investor", "buyer", "bank"))
        regions.set_region(tx, operator, organization_id=investor.organization_id, region=REGION)
        regions.set_region(tx, operator, organization_id=buyer.organization_id, region="WUJIANG")

        def holding(owner: Principal, name: str) -> int:
            account = ledger.open_account(tx, operator, organization_id=owner.organization_id,
                                          kind="holding", name=name)
            return int(account["id"])

        investor_account = holding(investor, "光伏持有账户 PV holding")
        buyer_account = holding(buyer, "持有账户 Holding")
        holding(bank, "持有账户 Holding")
        project = ledger.register_project(tx, investor, name=PROJECT, methodology=METHODOLOGY, region=REGION,
                                          owner_organization_id=investor.organization_id)
        ledger.issue(tx, operator, registry=registry, project_id=project["id"], vintage=VINTAGE,
                     period_start=date(VINTAGE, 1, 1), period_end=date(VINTAGE, 12, 31), quantity=ISSUED,
                     account_id=investor_account, credit_type=credit_type)
        ledger.transfer(tx, investor, from_account_id=investor_account, to_account_id=buyer_account,
                        quantity=TRANSFERRED)
        ledger.retire(tx, buyer, account_id=buyer_account, quantity=RETIRED, beneficiary=BUYER,
                      purpose="Wujiang plant carbon neutrality 2025 / 吴江工厂2025年碳中和",
                      period_start=date(2025, 1, 1), period_end=date(2025, 12, 31),
                      note="Offsets part of the plant's 2025 purchased-electricity emissions")
        ledger.pledge(tx, investor, account_id=investor_account, bank_organization_id=bank.organization_id,
                      quantity=PLEDGED, note="Collateral for a PV working-capital loan / 光伏贷款质押")
        # The lifecycle and compliance: a charging project announced to the public, and the buyer's obligation.
        chargers = declarations.declare(tx, investor, name=CHARGERS, owner_organization_id=investor.organization_id,
                                        methodology="EV-CHARGE", region=REGION,
                                        design={"pile_count": 40, "separately_metered": True})
        declarations.submit(tx, investor, chargers["id"])
        declarations.announce(tx, operator, chargers["id"], days=7)
        compliance.record_obligation(tx, operator, organization_id=buyer.organization_id, region="WUJIANG",
                                     compliance_year=2025, verified_emissions_kg=EMISSIONS_2025)
        _seed_carbon_accounts(tx, operator, buyer, bank)
        tx.commit()
    return True


def _seed_carbon_accounts(tx: UnitOfWork, operator: Principal, buyer: Principal, bank: Principal) -> None:
    """Four enterprises' carbon accounts, the year's benchmarks, the buyer's credit report and a bank's product."""
    economics = ["reference,period_start,period_end,output_value_10k_yuan,value_added_10k_yuan,source"]
    economics += [f"{ref},{year}-01-01,{year}-12-31,{output},{added},statistics bureau (demo)"
                  for ref, year, output, added in _ECONOMICS]
    records = ["reference,energy_type,unit,quantity,period_start,period_end,source,metered"]
    for (ref, year), kwh in _ELECTRICITY.items():
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            span = f"{year}-{month:02}-01,{year}-{month:02}-{last:02}"
            records.append(f"{ref},electricity,kWh,{kwh + 1_000 * month},{span},State Grid bill (demo),true")
            if ref == HOLDER and month in (1, 2, 12):
                records.append(f"{ref},natural_gas,10^4 Nm3,1.5,{span},gas bill (demo),true")
    for kind, text in (("holders", _HOLDERS), ("economics", "\n".join(economics)), ("records", "\n".join(records))):
        importing.import_file(tx, operator, kind, text.encode(), f"demo-{kind}.csv")
    compute_benchmarks(tx, operator, ACCOUNTS_YEAR)
    holder = holder_by_reference(tx.conn, HOLDER)
    assert holder is not None  # imported just above
    credit_report.issue_holder_report(tx, operator, holder["id"], Period.parse(str(ACCOUNTS_YEAR)),
                                      holder_organization_id=buyer.organization_id)
    products.define(tx, bank, bank_organization_id=bank.organization_id,
                    definition=product_json(products.example(LOAN_PRODUCT)))


def demo_present(engine: Engine) -> bool:
    """True when the database holds the demo registry (its operator organisation exists)."""
    with engine.connect() as conn:
        found = conn.execute(select(organizations.c.id).where(organizations.c.name == OPERATOR)).first()
    return found is not None
