"""Use cases for organisations, users and API keys: bootstrap, onboarding, login and key checks."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from tanhui.db import WRITE
from tanhui.errors import Conflict, InvalidRequest, NotAuthenticated, NotFound, TooManyAttempts
from tanhui.identity.principal import Principal
from tanhui.identity.tables import (
    API_KEY_NAME_LENGTH,
    ORGANIZATION_KINDS,
    ROLES,
    api_keys,
    instance_secrets,
    login_failures,
    organizations,
    users,
)
from tanhui.prepared import Prepared
from tanhui.regions.catalogue import region as find_region
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 10
API_KEY_PREFIX = "thk_"
# A hash of a password nobody has, so an unknown username costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _check_name(name: str, what: str, limit: int = 200) -> str:
    name = name.strip()
    if not name or len(name) > limit:
        raise InvalidRequest(f"{what} must be 1 to {limit} characters")
    return name


def create_organization(tx: UnitOfWork, principal: Principal | None, *, name: str, kind: str) -> RowMapping:
    """Onboard an organisation; only operator admins may (``principal`` None is the bootstrap itself)."""
    if principal is not None:
        principal.require_operator("onboard organisations")
        principal.require_admin_of(principal.organization_id)
    name = _check_name(name, "organisation name")
    if kind not in ORGANIZATION_KINDS:
        raise InvalidRequest(f"unknown organisation kind {kind!r}; one of {', '.join(ORGANIZATION_KINDS)}")
    if kind == "operator" and principal is not None:
        raise InvalidRequest("a registry has exactly one operator organisation, made by `tanhui bootstrap`")
    if read_one(tx.conn, organizations, organizations.c.name == name) is not None:
        raise Conflict(f"an organisation named {name!r} already exists")
    tx.entry("organization.created", name=name, kind=kind)
    row = tx.insert(organizations, {"name": name, "kind": kind, "created_at": utcnow()})
    tx.note(organization_id=row["id"])
    return row


def create_user(tx: UnitOfWork, principal: Principal | None, *, organization_id: int, username: str,
                password: str, role: str, region: str | None = None) -> RowMapping:
    """Add a user to an organisation; its admins or the operator's admins may.  ``region`` makes an operator
    user the operator of that region only (see docs/regions.md)."""
    organization = read_one(tx.conn, organizations, organizations.c.id == organization_id)
    if organization is None:
        raise NotFound(f"organisation {organization_id} does not exist")
    if principal is not None:
        principal.require_admin_of(organization_id)
    if not _USERNAME.match(username):
        raise InvalidRequest(
            "username must be 3 to 64 characters of lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"password must be at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if region is not None:
        if organization["kind"] != "operator":
            raise InvalidRequest(f"only operator users have a region; organisation {organization_id} is a "
                                 f"{organization['kind']}")
        find_region(region)
    if read_one(tx.conn, users, users.c.username == username) is not None:
        raise Conflict(f"the username {username!r} is taken")
    tx.entry("user.created", organization_id=organization_id, username=username, role=role, region=region)
    row = tx.insert(users, {
        "organization_id": organization_id, "username": username, "password_hash": _hasher.hash(password),
        "role": role, "active": True, "created_at": utcnow(), "region": region,
    })
    tx.note(user_id=row["id"])
    return row


def bootstrap(engine: Engine, *, username: str, password: str, organization_name: str) -> RowMapping:
    """Create the operator organisation and its first admin on an empty registry."""
    with UnitOfWork(engine, f"bootstrap:{username}") as tx:
        if tx.conn.execute(select(func.count()).select_from(organizations)).scalar_one():
            raise Conflict("the registry already has organisations; bootstrap runs only on an empty database")
        tx.entry("registry.bootstrapped", organization=organization_name, username=username)
        org = tx.insert(organizations, {"name": _check_name(organization_name, "organisation name"),
                                        "kind": "operator", "created_at": utcnow()})
        tx.note(organization_id=org["id"])
        user = create_user(tx, None, organization_id=org["id"], username=username, password=password,
                           role="admin")
        tx.commit()
        return user


# A bearer's user and organisation in one statement, prepared once: every authenticated request runs it.
_BEARER = Prepared(
    select(users.c.username, users.c.active, users.c.role, users.c.region, organizations.c.id, organizations.c.kind)
    .join_from(users, organizations, users.c.organization_id == organizations.c.id)
    .where(users.c.username == bindparam("username"))
)


def bearer_read(username: str) -> tuple[Prepared, dict[str, Any]]:
    """The one statement that reads a bearer's user and organisation, to send with others (``together``)."""
    return _BEARER, {"username": username}


def bearer_principal(username: str, rows: Sequence[RowMapping]) -> Principal:
    """The principal of an active user from ``bearer_read``'s rows; NotAuthenticated for an unknown or
    deactivated one."""
    row = rows[0] if rows else None
    if row is None or not row["active"]:
        raise NotAuthenticated(f"user {username!r} no longer has access")
    return Principal(f"user:{row['username']}", row["id"], row["kind"], row["role"], row["region"])


def principal_for_user(conn: Connection, user: RowMapping) -> Principal:
    org = read_one(conn, organizations, organizations.c.id == user["organization_id"])
    assert org is not None  # foreign key
    return Principal(f"user:{user['username']}", org["id"], org["kind"], user["role"], user["region"])


def authenticate(engine: Engine, username: str, password: str, *, max_failures: int,
                 window_seconds: int) -> Principal:
    """Check a password, refusing further tries once ``max_failures`` failed within the window."""
    since = utcnow() - timedelta(seconds=window_seconds)
    # It may write (a failure, or clearing them): take SQLite's write lock up front, or a concurrent writer
    # could make the upgrade from reading fail at once instead of waiting.
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        failures = conn.execute(
            select(func.count()).select_from(login_failures)
            .where(login_failures.c.username == username, login_failures.c.at >= since)
        ).scalar_one()
        if failures >= max_failures:
            raise TooManyAttempts(
                f"too many failed logins for {username!r}; try again in {window_seconds} seconds",
                retry_after=window_seconds,
            )
        user = read_one(conn, users, users.c.username == username)
        if user is None or not user["active"]:
            _verify(_DUMMY_HASH, password)
        elif _verify(user["password_hash"], password):
            conn.execute(delete(login_failures).where(login_failures.c.username == username))
            return principal_for_user(conn, user)
        conn.execute(login_failures.insert().values(username=username, at=utcnow()))
    raise NotAuthenticated("wrong username or password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_api_key(tx: UnitOfWork, principal: Principal, *, name: str, role: str) -> tuple[RowMapping, str]:
    """Issue an API key for a machine client of the principal's organisation; the secret is shown once."""
    principal.require_admin_of(principal.organization_id)
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    tx.entry("api_key.created", organization_id=principal.organization_id, name=name, role=role, prefix=prefix)
    row = tx.insert(api_keys, {
        "organization_id": principal.organization_id, "role": role,
        "name": _check_name(name, "key name", API_KEY_NAME_LENGTH),
        "prefix": prefix, "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "created_by": principal.actor, "created_at": utcnow(), "revoked_at": None,
    })
    return row, f"{API_KEY_PREFIX}{prefix}_{secret}"


def revoke_api_key(tx: UnitOfWork, principal: Principal, key_id: int) -> RowMapping:
    key = read_one(tx.conn, api_keys, api_keys.c.id == key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    principal.require_admin_of(key["organization_id"])
    if key["revoked_at"] is not None:
        raise Conflict(f"API key {key_id} is already revoked")
    tx.entry("api_key.revoked", api_key_id=key_id)
    return tx.update(api_keys, api_keys.c.id == key_id, {"revoked_at": utcnow()})[0]


def _api_key_parts(token: str) -> list[str]:
    parts = token.removeprefix(API_KEY_PREFIX).split("_", 1)
    if not token.startswith(API_KEY_PREFIX) or len(parts) != 2:
        raise NotAuthenticated("malformed API key")
    return parts


def api_key_prefix(token: str) -> str:
    """The public prefix that names a presented API key (``thk_<prefix>_<secret>``); refuses a malformed one."""
    return _api_key_parts(token)[0]


def principal_for_api_key(conn: Connection, token: str) -> Principal:
    """The principal of a presented API key (``thk_<prefix>_<secret>``)."""
    parts = _api_key_parts(token)
    key = read_one(conn, api_keys, api_keys.c.prefix == parts[0])
    digest = hashlib.sha256(parts[1].encode()).hexdigest()
    if key is None or key["revoked_at"] is not None or not secrets.compare_digest(key["secret_hash"], digest):
        raise NotAuthenticated("unknown or revoked API key")
    org = read_one(conn, organizations, organizations.c.id == key["organization_id"])
    assert org is not None
    return Principal(f"key:{key['prefix']}", org["id"], org["kind"], key["role"])


def instance_secret(engine: Engine, name: str) -> str:
    """A random secret made on first use and kept in the database, so every instance shares it."""
    try:
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            row = read_one(conn, instance_secrets, instance_secrets.c.name == name)
            if row is not None:
                return str(row["value"])
            value = secrets.token_urlsafe(48)
            conn.execute(instance_secrets.insert().values(name=name, value=value))
            return value
    except IntegrityError:  # another instance made it first
        with engine.connect() as conn:
            return str(conn.execute(select(instance_secrets.c.value).where(instance_secrets.c.name == name))
                       .scalar_one())


def operator_principal(conn: Connection, actor: str) -> Principal:
    """The operator acting from the command line on the server itself."""
    org = conn.execute(select(organizations).where(organizations.c.kind == "operator")).mappings().first()
    if org is None:
        raise NotFound("the registry has no operator yet: run `tanhui bootstrap` first")
    return Principal(actor, org["id"], "operator", "admin")
