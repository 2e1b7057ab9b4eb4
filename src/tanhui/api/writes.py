"""How every write route runs: one unit of work as the caller, kept under its Idempotency-Key for replays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError

from tanhui.api import idempotency
from tanhui.api.deps import engine_of, reading
from tanhui.api.security import Credential, credential
from tanhui.errors import TanhuiError
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork

REPLAYED = "Idempotent-Replayed"
JSON = "application/json"
KNOWN_CALLERS = 10_000


@dataclass(slots=True)
class Write:
    """A write request: who makes it, its idempotency key, and where it was sent.

    The caller is read inside the write's own transaction, not before it, so a deactivated user or a
    changed role takes effect for the very next request, and the check costs no connection of its own.
    """

    engine: Engine
    credential: Credential
    key: str | None
    method: str
    path: str
    # The principal each bearer was last read as (the app's, shared by its requests): see ``run``.
    known: dict[str, Principal]
    _principal: Principal | None = None

    @property
    def principal(self) -> Principal:
        """The caller, as read by ``run`` in its transaction (services use it only from inside ``run``)."""
        if self._principal is None:
            raise RuntimeError("the caller is read inside Write.run; use write.principal from its service")
        return self._principal

    def run(self, body: BaseModel | None, service: Callable[[UnitOfWork], BaseModel], *,
            status_code: int = 201, shown_once: tuple[str, ...] = ()) -> Response:
        """Run ``service`` in a unit of work and answer with its result, or replay the key's first answer.

        The key's row is written in the same transaction as the change, so both commit or neither does;
        only successes are remembered, so a request that failed may be retried with its key.
        ``shown_once`` names fields (secrets) that the stored copy leaves out.

        On PostgreSQL a bearer seen before is taken to be who they were last time: the service runs at
        once, and the caller's read and the key's look-up go with its first statement, saving a round trip.
        Unless both then show that nothing was in the way (the caller unchanged, the key unused), the
        transaction is rolled back, unseen, and the write runs again with the caller read first, which
        answers as it always has: with the replay, the refusal or the service's own error.
        """
        actor = self.credential.actor
        fingerprint = idempotency.request_hash(self.method, self.path,
                                               None if body is None else body.model_dump(mode="json"))
        guessing = self.credential.username is not None and self.engine.dialect.name == "postgresql"
        guess = self.known.get(actor) if guessing else None
        try:
            if guess is not None:
                answer = self._attempt(fingerprint, service, status_code, shown_once, guess)
                if answer is not None:
                    return answer
                self.known.pop(actor, None)
            answer = self._attempt(fingerprint, service, status_code, shown_once, None, remember=guessing)
            assert answer is not None
            return answer
        except IntegrityError:
            if self.key is None:
                raise
            # The unique key is the guarantee: whoever committed first owns the key, and we replay it.
            with reading(self.engine) as conn:
                first = idempotency.stored(conn, actor, self.key)
            if first is None:
                raise  # another constraint refused the write (keys are never deleted)
            return self._replay(first, fingerprint)

    def _attempt(self, fingerprint: str, service: Callable[[UnitOfWork], BaseModel], status_code: int,
                 shown_once: tuple[str, ...], guess: Principal | None, *, remember: bool = False) -> Response | None:
        """One run of the write in its own transaction; None if ``guess`` (the caller taken as known) did not
        hold, and nothing was written."""
        actor = self.credential.actor
        with UnitOfWork(self.engine, actor) as tx:
            lookup = idempotency.lookup(tx.conn, actor, self.key) if self.key is not None else []
            if guess is None:
                # The caller and the key's stored answer are read together: one round trip on PostgreSQL.
                self._principal, rows = self.credential.principal_with(tx.conn, lookup)
                if remember:
                    self._remember_caller(actor, self._principal)
                first = idempotency.found(rows) if self.key is not None else None
                if first is not None:
                    return self._replay(first, fingerprint)
                result = service(tx)
            else:
                self._principal = guess
                sent = self.credential.send_ahead(tx.conn, lookup)
                try:
                    result = service(tx)
                    caller, rows = self.credential.read_ahead(sent)
                except (TanhuiError, DBAPIError):
                    return None  # the run with the caller read first says what went wrong
                if caller != guess or (self.key is not None and idempotency.found(rows) is not None):
                    return None
            answer = result.model_dump_json()
            remembered = []
            if self.key is not None:
                kept = (result.model_copy(update=dict.fromkeys(shown_once)).model_dump_json() if shown_once
                        else answer)
                remembered.append(idempotency.remembering(principal=actor, key=self.key, request_hash=fingerprint,
                                                          status_code=status_code, response_body=kept))
            # The key's row goes with the COMMIT (one round trip on PostgreSQL).
            tx.commit(first=remembered)
        return Response(answer, status_code=status_code, media_type=JSON)

    def _remember_caller(self, actor: str, principal: Principal) -> None:
        if len(self.known) >= KNOWN_CALLERS and actor not in self.known:
            self.known.clear()  # a bound on memory; the next writes of each caller read it first again
        self.known[actor] = principal

    def _replay(self, first: RowMapping, fingerprint: str) -> Response:
        idempotency.check_replay(first, self.key or "", fingerprint)
        return Response(first["response_body"], status_code=first["status_code"], media_type=JSON,
                        headers={REPLAYED: "true"})


async def write_context(
    request: Request,
    presented: Annotated[Credential, Depends(credential)],
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", pattern=idempotency.KEY_PATTERN,
        description="1-255 printable ASCII characters naming this request; a replay returns the first result",
    )] = None,
) -> Write:
    # Async: it does no I/O, so it costs no hand-off to the thread pool.
    return Write(engine_of(request), presented, idempotency_key, request.method, request.url.path,
                 request.app.state.callers)


Writer = Annotated[Write, Depends(write_context)]
