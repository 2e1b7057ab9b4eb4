"""Every table of the platform, imported in one place so the metadata and migrations see them all."""

from tanhui.accounts.tables import (
    carbon_holders,
    energy_records,
    holder_economics,
    holder_meters,
    industry_benchmarks,
)
from tanhui.api.idempotency import idempotency_keys
from tanhui.finance.tables import consent_grants, credit_reports, loan_products, report_accesses
from tanhui.identity.tables import api_keys, instance_secrets, login_failures, organizations, users
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.methodologies.tables import methodology_versions
from tanhui.mrv.tables import claimed_days, energy_claims, meters, monitoring_reports, report_sites
from tanhui.points.tables import (
    behaviour_events,
    packaged_events,
    points_balances,
    points_catalogue,
    points_entries,
    points_lots,
    points_redemptions,
    resident_settings,
    travel_packages,
)
from tanhui.projects.tables import (
    declaration_attachments,
    declaration_events,
    declarations,
    mrv_submissions,
    public_comments,
    reminders,
    submitted_report_days,
    submitted_reports,
)
from tanhui.regions.tables import (
    compliance_obligations,
    compliance_surrenders,
    cross_regional_transfers,
    organization_regions,
)
from tanhui.registry.tables import (
    accounts,
    acts,
    blocks,
    cancellations,
    issuances,
    movements,
    pledges,
    projects,
    retirements,
)

# Tables whose rows are ledger state described by the journal (audit compares them with its entries).
JOURNALED = (organizations, users, api_keys, accounts, projects, acts, issuances, pledges, blocks, movements,
             retirements, cancellations, meters, monitoring_reports, report_sites, energy_claims, claimed_days,
             declarations, declaration_events, public_comments, submitted_reports, submitted_report_days,
             compliance_obligations, compliance_surrenders, organization_regions, cross_regional_transfers,
             methodology_versions, declaration_attachments, mrv_submissions, reminders,
             behaviour_events, points_balances, points_lots, points_entries, points_catalogue, points_redemptions,
             resident_settings, travel_packages, packaged_events,
             carbon_holders, holder_economics, energy_records, holder_meters, industry_benchmarks,
             credit_reports, consent_grants, loan_products)

__all__ = [
    "JOURNALED",
    "accounts",
    "acts",
    "api_keys",
    "behaviour_events",
    "blocks",
    "cancellations",
    "carbon_holders",
    "claimed_days",
    "compliance_obligations",
    "compliance_surrenders",
    "consent_grants",
    "credit_reports",
    "cross_regional_transfers",
    "declaration_attachments",
    "declaration_events",
    "declarations",
    "energy_claims",
    "energy_records",
    "holder_economics",
    "holder_meters",
    "idempotency_keys",
    "industry_benchmarks",
    "instance_secrets",
    "issuances",
    "journal_entries",
    "journal_head",
    "loan_products",
    "login_failures",
    "meters",
    "methodology_versions",
    "monitoring_reports",
    "movements",
    "mrv_submissions",
    "organization_regions",
    "organizations",
    "packaged_events",
    "pledges",
    "points_balances",
    "points_catalogue",
    "points_entries",
    "points_lots",
    "points_redemptions",
    "projects",
    "public_comments",
    "reminders",
    "report_accesses",
    "report_sites",
    "resident_settings",
    "retirements",
    "submitted_report_days",
    "submitted_reports",
    "travel_packages",
    "users",
]
