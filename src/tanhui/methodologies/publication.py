"""Methodology versions' states: draft → published → superseded, decided by the operator and journaled.

A version ships in the state its reference entry names (`state`, default published); the operator's decisions
are rows of ``methodology_versions``. Projects are declared only under published versions, and a project
stays pinned to the version it was declared under whatever happens to that version later.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, InvalidRequest
from tanhui.identity.principal import Principal
from tanhui.methodologies.catalogue import find, versions
from tanhui.methodologies.tables import methodology_versions
from tanhui.reference import methodology_entries
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one


def shipped_state(reference: str) -> str:
    for entry in methodology_entries():
        if f"{entry['code']}@{entry['version']}" == reference:
            return str(entry.get("state", "published"))
    raise AssertionError(reference)


def states(conn: Connection) -> dict[str, tuple[str, str | None]]:
    """Every version's (state, successor)."""
    decided = {row["reference"]: (row["state"], row["superseded_by"])
               for row in conn.execute(select(methodology_versions)).mappings()}
    return {m.reference: decided.get(m.reference, (shipped_state(m.reference), None)) for m in versions()}


def require_published(conn: Connection, reference: str) -> None:
    """Refuse a declaration under a draft or superseded version, naming its successor."""
    state, successor = states(conn)[reference]
    if state != "published":
        hint = f"; declare under {successor}" if successor else ""
        raise InvalidRequest(f"methodology {reference} is {state}, not published{hint}")


def _decide(tx: UnitOfWork, reference: str, state: str, successor: str | None) -> RowMapping:
    tx.entry(f"methodology.{state}", reference=reference, superseded_by=successor)
    values = {"state": state, "superseded_by": successor, "changed_at": utcnow()}
    if read_one(tx.conn, methodology_versions, methodology_versions.c.reference == reference) is None:
        return tx.insert(methodology_versions, {"reference": reference, **values})
    return tx.update(methodology_versions, methodology_versions.c.reference == reference, values)[0]


def publish(tx: UnitOfWork, principal: Principal, reference: str) -> RowMapping:
    """A draft version becomes available for new projects."""
    principal.require_operator("publish methodologies")
    version = find(reference).reference
    state, _ = states(tx.conn)[version]
    if state != "draft":
        raise Conflict(f"methodology {version} is {state}; only a draft is published")
    return _decide(tx, version, "published", None)


def supersede(tx: UnitOfWork, principal: Principal, reference: str, *, by: str) -> RowMapping:
    """A published version closes to new projects in favour of a published successor of the same code."""
    principal.require_operator("supersede methodologies")
    old, new = find(reference), find(by)
    current = states(tx.conn)
    if current[old.reference][0] != "published":
        raise Conflict(f"methodology {old.reference} is {current[old.reference][0]}; only a published version "
                       "is superseded")
    if new.code != old.code or new.reference == old.reference or current[new.reference][0] != "published":
        raise InvalidRequest(f"{new.reference} cannot supersede {old.reference}: the successor must be another "
                             "published version of the same methodology")
    return _decide(tx, old.reference, "superseded", new.reference)
