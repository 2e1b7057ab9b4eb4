"""Content-addressed attachments on local disk: files named by their SHA-256, written once, size and type limited."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from tanhui.errors import BadInput, NotFound

MAX_BYTES = 20 * 1024 * 1024
# What evidence and monitoring data may be: documents, spreadsheets, images and data files; nothing executable.
MEDIA_TYPES = ("text/csv", "application/pdf", "image/png", "image/jpeg", "application/json",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _path(root: Path, digest: str) -> Path:
    return root / "attachments" / digest[:2] / digest


def store(root: Path, content: bytes, media_type: str) -> str:
    """Keep ``content`` under its SHA-256 (once, however often it is stored) and return the hex digest."""
    if media_type not in MEDIA_TYPES:
        raise BadInput(f"attachments of type {media_type!r} are not accepted; accepted: {', '.join(MEDIA_TYPES)}")
    if not content:
        raise BadInput("the attachment is empty")
    if len(content) > MAX_BYTES:
        raise BadInput(f"the attachment has {len(content):,} bytes; at most {MAX_BYTES:,} are accepted")
    digest = hashlib.sha256(content).hexdigest()
    target = _path(root, digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside its place and renamed, so a reader never sees half a file under a digest.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, target)
    return digest


def read(root: Path, digest: str) -> bytes:
    """An attachment's bytes, checked against its name."""
    path = _path(root, digest)
    if not path.is_file():
        raise NotFound(f"no attachment {digest}")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != digest:
        raise BadInput(f"attachment {digest} on disk does not match its SHA-256: it was altered")
    return content
