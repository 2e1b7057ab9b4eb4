"""Who is acting: an authenticated user, API key or local operator, and the checks every service makes."""

from __future__ import annotations

from dataclasses import dataclass

from tanhui.errors import PermissionDenied

WRITE_ROLES = ("admin", "representative")


@dataclass(frozen=True, slots=True)
class Principal:
    """The actor behind a request; ``actor`` is the name the journal records (``user:alice``, ``key:…``)."""

    actor: str
    organization_id: int
    organization_kind: str
    role: str
    region: str | None = None  # an operator user scoped to one region (and the districts under it)

    @property
    def is_operator(self) -> bool:
        return self.organization_kind == "operator"

    def require_write(self) -> None:
        """Viewers read; only admins and representatives act."""
        if self.role not in WRITE_ROLES:
            raise PermissionDenied(f"{self.actor} has the {self.role} role, which cannot act on the registry")

    def require_operator(self, what: str) -> None:
        """Only the registry operator issues, cancels, revokes and onboards."""
        self.require_write()
        if not self.is_operator:
            raise PermissionDenied(f"only the registry operator may {what}")

    def require_admin_of(self, organization_id: int) -> None:
        """Organisation admins manage their own organisation; operator admins manage any."""
        if self.role != "admin" or (self.organization_id != organization_id and not self.is_operator):
            raise PermissionDenied(f"only an admin of organisation {organization_id} or of the operator may do this")

    def require_acts_for(self, organization_id: int, what: str) -> None:
        """Users act only for their own organisation's accounts."""
        self.require_write()
        if self.organization_id != organization_id:
            raise PermissionDenied(f"{what} belongs to another organisation")

    def may_read(self, organization_id: int | None) -> bool:
        return self.is_operator or self.organization_id == organization_id
