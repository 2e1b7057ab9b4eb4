"""How every write route runs: one unit of work as the caller, kept under its Idempotency-Key for replays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from tanhui.api import idempotency
from tanhui.api.deps import engine_of, reading
from tanhui.api.security import Credential, credential
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork

REPLAYED = "Idempotent-Replayed"
JSON = "application/json"


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
        """
        actor = self.credential.actor
        fingerprint = idempotency.request_hash(self.method, self.path,
                                               None if body is None else body.model_dump(mode="json"))
        try:
            with UnitOfWork(self.engine, actor) as tx:
                # The caller and the key's stored answer are read together: one round trip on PostgreSQL.
                lookup = idempotency.lookup(tx.conn, actor, self.key) if self.key is not None else []
                self._principal, rows = self.credential.principal_with(tx.conn, lookup)
                if self.key is not None:
                    first = idempotency.found(rows)
                    if first is not None:
                        return self._replay(first, fingerprint)
                result = service(tx)
                answer = result.model_dump_json()
                remembered = []
                if self.key is not None:
                    kept = (result.model_copy(update=dict.fromkeys(shown_once)).model_dump_json() if shown_once
                            else answer)
                    remembered.append(idempotency.remembering(principal=actor, key=self.key, request_hash=fingerprint,
                                                              status_code=status_code, response_body=kept))
                # The key's row goes with the COMMIT (one round trip on PostgreSQL).
                tx.commit(first=remembered)
        except IntegrityError:
            if self.key is None:
                raise
            # The unique key is the guarantee: whoever committed first owns the key, and we replay it.
            with reading(self.engine) as conn:
                first = idempotency.stored(conn, actor, self.key)
            if first is None:
                raise  # another constraint refused the write (keys are never deleted)
            return self._replay(first, fingerprint)
        return Response(answer, status_code=status_code, media_type=JSON)

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
    return Write(engine_of(request), presented, idempotency_key, request.method, request.url.path)


Writer = Annotated[Write, Depends(write_context)]
