"""Domain errors shared by every capability; the API maps each to one RFC 9457 problem type."""

from __future__ import annotations


class TanhuiError(Exception):
    """Base of every error a user can cause; ``code`` names the problem type, ``status`` its HTTP status."""

    code = "error"
    status = 400
    title = "Request failed"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(TanhuiError):
    code, status, title = "invalid-request", 422, "The request is not valid"


class NotFound(TanhuiError):
    code, status, title = "not-found", 404, "Not found"


class NotAuthenticated(TanhuiError):
    code, status, title = "not-authenticated", 401, "Authentication required"


class PermissionDenied(TanhuiError):
    code, status, title = "permission-denied", 403, "Not allowed"


class Conflict(TanhuiError):
    code, status, title = "conflict", 409, "Conflicts with the current state"


class InsufficientHoldings(Conflict):
    code, title = "insufficient-holdings", "The account does not hold enough available units"


class UnitsNotAvailable(Conflict):
    code, title = "units-not-available", "Some of the units are not available to act on"


class TooManyAttempts(TanhuiError):
    code, status, title = "too-many-attempts", 429, "Too many failed attempts"


class TooManyComments(TanhuiError):
    code, status, title = "too-many-comments", 429, "Too many public comments from this address"


class BadInput(InvalidRequest):
    """An input file (sites, readings, meter frames) that cannot be taken as it is; nothing was stored."""

    code, title = "bad-input", "The input data is not valid"


class DamagedLake(Conflict):
    """The lake's manifest cannot be read; nothing is ingested until an operator looks at it."""

    code, title = "damaged-lake", "The meter-data lake is damaged"


class TelemetryRejected(InvalidRequest):
    """A telemetry message that cannot become readings; it is written to the rejects file and acknowledged."""

    code, title = "telemetry-rejected", "The telemetry message was rejected"


class BrokerUnavailable(InvalidRequest):
    """The MQTT broker cannot be reached, refused the connection, or refused the subscription."""

    code, title = "broker-unavailable", "The MQTT broker is not available"


class ReportInputInvalid(InvalidRequest):
    """summary.json or daily.parquet cannot make a report (missing, malformed or not matching); nothing was written."""

    code, title = "report-input-invalid", "The verification output cannot make a report"


class UnknownReference(InvalidRequest):
    """A factor, methodology or other reference figure that the shipped reference data does not hold."""

    code, title = "unknown-reference", "No such reference data"


class NotApplicable(InvalidRequest):
    """A project's declared design does not meet its methodology version's applicability conditions."""

    code, title = "not-applicable", "The methodology does not apply to this project"


ALL_ERRORS: tuple[type[TanhuiError], ...] = (
    InvalidRequest, NotFound, NotAuthenticated, PermissionDenied, Conflict, InsufficientHoldings,
    UnitsNotAvailable, TooManyAttempts, TooManyComments, BadInput, DamagedLake, TelemetryRejected, BrokerUnavailable,
    ReportInputInvalid, UnknownReference, NotApplicable,
)
