"""Request and response bodies of the REST API; quantities are whole kgCO2e; ids are strict integers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, computed_field

from tanhui.types import MAX_QUANTITY

API = "/api/v1"
MAX_ID = 2**63 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


RecordId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY, description="whole kgCO2e")]
Name = Annotated[StrictStr, Field(max_length=200), AfterValidator(_no_nul)]
Code = Annotated[StrictStr, Field(max_length=40), AfterValidator(_no_nul)]
SerialRange = Annotated[StrictStr, Field(max_length=200, examples=["TH1.SIP.PHCER.P1.V2024.I1.1-500"]),
                        AfterValidator(_no_nul)]
LongText = Annotated[StrictStr, Field(max_length=2000), AfterValidator(_no_nul)]
Password = Annotated[StrictStr, Field(max_length=1000), AfterValidator(_no_nul)]


class RequestBody(BaseModel):
    """Requests refuse fields they do not know, so a misspelt field is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- requests

class OrganizationCreate(RequestBody):
    name: Name
    kind: Code = Field(description="project_owner, aggregator, verifier, buyer, bank or individual")


class UserCreate(RequestBody):
    username: Annotated[StrictStr, Field(max_length=64)]
    # Left out of dumps, so the idempotency fingerprint never holds a fast hash of a password.
    password: Password = Field(exclude=True)
    role: Code = Field(description="admin, representative or viewer")
    region: Code | None = Field(None, description="operator users only: the region (and its districts) this "
                                "user is the operator of, e.g. WUJIANG; none for a platform-wide operator")


class ApiKeyCreate(RequestBody):
    name: Annotated[StrictStr, Field(max_length=100), AfterValidator(_no_nul)]
    role: Code = Field(description="admin, representative or viewer")


class AccountCreate(RequestBody):
    organization_id: RecordId
    kind: Code = Field(description="holding, retirement, compliance, buffer or escrow")
    name: Name


class ProjectCreate(RequestBody):
    name: Name
    owner_organization_id: RecordId
    methodology: Code
    region: Code


class IssuanceCreate(RequestBody):
    project_id: RecordId
    vintage: Annotated[StrictInt, Field(ge=1000, le=2999, description="a year; serials hold 1000-2999")]
    period_start: date
    period_end: date
    quantity: Quantity
    account_id: RecordId
    credit_type: Code | None = Field(None, description="defaults to the registry's default credit type")


class TransferCreate(RequestBody):
    from_account_id: RecordId
    to_account_id: RecordId
    quantity: Quantity | None = Field(None, description="give quantity or serial_range")
    serial_range: SerialRange | None = None


class RetirementCreate(RequestBody):
    account_id: RecordId
    quantity: Quantity | None = Field(None, description="give quantity or serial_range")
    serial_range: SerialRange | None = None
    beneficiary: Name
    purpose: Name
    period_start: date | None = Field(None, description="consumption period the claim covers")
    period_end: date | None = None
    note: LongText | None = None


class CancellationCreate(RequestBody):
    account_id: RecordId
    quantity: Quantity | None = Field(None, description="give quantity or serial_range")
    serial_range: SerialRange | None = None
    purpose: Literal["compliance", "regulatory"]
    compliance_year: StrictInt | None = Field(None, description="for compliance surrenders")
    reason: LongText | None = None


class PledgeCreate(RequestBody):
    account_id: RecordId
    bank_organization_id: RecordId
    quantity: Quantity | None = Field(None, description="give quantity or serial_range")
    serial_range: SerialRange | None = None
    note: LongText | None = None


class RevocationCreate(RequestBody):
    serial_range: SerialRange | None = Field(None, description="serial_range, or account_id and quantity")
    account_id: RecordId | None = None
    quantity: Quantity | None = None
    reason: LongText


# ---------------------------------------------------------------- responses

class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")


class Me(BaseModel):
    actor: str
    organization_id: int
    organization_name: str
    organization_kind: str
    role: str


class ApiKey(BaseModel):
    id: int
    organization_id: int
    name: str
    role: str
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str | None = Field(description="the key itself, shown in this response only (null when replayed)")


class Organization(BaseModel):
    id: int
    name: str
    kind: str
    created_at: datetime


class User(BaseModel):
    id: int
    organization_id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    region: str | None = None


class Balances(BaseModel):
    available: int
    pledged: int
    retired: int
    cancelled: int
    revoked: int


class Account(BaseModel):
    id: int
    organization_id: int
    kind: str
    name: str
    created_at: datetime
    balances: Balances


class Block(BaseModel):
    serial: str
    issuance_id: int
    first: int
    last: int
    quantity: int
    state: str
    pledge_id: int | None
    vintage: int
    project_id: int


class StatementRow(BaseModel):
    act_id: int
    at: datetime
    kind: str
    counterparty_account_id: int | None
    serials: list[str]
    available_change: int
    pledged_change: int
    available_after: int
    pledged_after: int


class Statement(BaseModel):
    """An account's acts in order with running balances; ``next_cursor`` pages them."""

    account_id: int
    items: list[StatementRow]
    next_cursor: str | None


class Project(BaseModel):
    id: int
    name: str
    owner_organization_id: int
    methodology: str
    region: str
    status: str
    created_at: datetime


class IssuedBlock(BaseModel):
    serial: str
    first: int
    last: int
    quantity: int


class Issuance(BaseModel):
    id: int
    act_id: int
    project_id: int
    registry: str
    region: str
    credit_type: str
    vintage: int
    period_start: date
    period_end: date
    quantity: int
    account_id: int | None = Field(description="null unless the caller may read the account")
    serial: str
    blocks: list[IssuedBlock]
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"{API}/issuances/{self.id}"


class RetirementDetail(BaseModel):
    beneficiary: str
    purpose: str
    period_start: date | None
    period_end: date | None
    note: str | None


class CancellationDetail(BaseModel):
    purpose: str
    compliance_year: int | None


class Pledge(BaseModel):
    id: int
    act_id: int
    account_id: int
    bank_organization_id: int
    quantity: int
    status: str
    release_act_id: int | None
    note: str | None
    serials: list[str]
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"{API}/pledges/{self.id}"


class Act(BaseModel):
    """One transaction on the ledger; ``url`` is its permanent address."""

    id: int
    kind: str
    quantity: int
    serials: list[str]
    created_at: datetime
    actor: str
    account_id: int | None
    to_account_id: int | None
    reason: str | None
    issuance: Issuance | None
    retirement: RetirementDetail | None
    cancellation: CancellationDetail | None
    pledge: Pledge | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"{API}/acts/{self.id}"


class LifecycleEvent(BaseModel):
    act_id: int
    kind: str
    at: datetime
    serial: str
    from_account_id: int | None
    to_account_id: int | None
    from_state: str | None
    to_state: str


class LifecycleBlock(BaseModel):
    serial: str
    first: int
    last: int
    quantity: int
    state: str
    account_id: int | None


class Lifecycle(BaseModel):
    """A serial range's history: account ids only for the operator and the holder's organisation."""

    serial: str
    quantity: int
    issuance: Issuance
    events: list[LifecycleEvent]
    blocks: list[LifecycleBlock]
    next_cursor: str | None = Field(description="pages the events")


class PublicIssuance(BaseModel):
    serial: str
    project: str
    methodology: str
    region: str
    vintage: int
    period_start: date
    period_end: date
    quantity: int
    credit_type: str
    issued_at: datetime
    owner_organization: str | None = Field(description="null when the owner is an individual")


class PublicOrigin(BaseModel):
    project: str
    methodology: str
    vintage: int


class PublicRetirement(BaseModel):
    id: int
    serials: list[str]
    quantity: int
    beneficiary: str
    purpose: str
    period_start: date | None
    period_end: date | None
    retired_at: datetime
    projects: list[PublicOrigin]


class JournalHead(BaseModel):
    seq: int
    hash: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    database: str
