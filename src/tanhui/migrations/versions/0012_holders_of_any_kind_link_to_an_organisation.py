"""Carbon holders of any kind link to a registry organisation; credit reports and consents name registered holders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 04:23:52.876100
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Rebuilding a table on SQLite drops its triggers; these are the guards of the tables rebuilt here (as 0009).
GUARDS = {"append_only": ("credit_reports",), "no_delete": ("consent_grants",)}
ORGANIZATION_CHECK = "kind = 'resident' OR organization_id IS NULL"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    with op.batch_alter_table("carbon_holders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_carbon_holders_organization"), type_="check")
    # Fails, and changes nothing, where a report or consent names a holder that does not exist.
    with op.batch_alter_table("consent_grants", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_consent_grants_holder_id_carbon_holders"), "carbon_holders",
                                    ["holder_id"], ["id"])
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_credit_reports_holder_id_carbon_holders"), "carbon_holders",
                                    ["holder_id"], ["id"])
    if _sqlite():
        row_guards(**GUARDS)


def downgrade() -> None:
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_credit_reports_holder_id_carbon_holders"), type_="foreignkey")
    with op.batch_alter_table("consent_grants", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_consent_grants_holder_id_carbon_holders"), type_="foreignkey")
    # Fails, and changes nothing, where an enterprise or institution is linked to an organisation.
    with op.batch_alter_table("carbon_holders", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_carbon_holders_organization"), sa.text(ORGANIZATION_CHECK))
    if _sqlite():
        row_guards(**GUARDS)
