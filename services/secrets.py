"""Secrets at rest: which columns hold them, and re-encrypting them all under a new key.

``encrypted_columns`` finds every column of type ``schema.base.Encrypted`` in every mapped
table from the metadata, so a secret added to the schema is rotated without touching this file.

``rotate_secrets`` re-encrypts every stored secret under ``new_key`` in the caller's
transaction: each non-empty value is decrypted with whichever of the new key or the old keys
opens it (``MultiFernet``) and encrypted under the new key. A value already under the new key
is simply re-encrypted, so running it again after a crash (or after the switch to the new key)
is harmless. A value that none of the keys opens raises ``RotationFailed`` naming the row;
the caller's transaction then rolls back, so nothing is changed.

Values are read and written as the stored text (the ``Encrypted`` type's own processing is
bypassed), rows are locked for update (PostgreSQL), and plain text never leaves this module.
Rows' ``version`` and ``updated_at`` are left alone: no one's data changed, and caches keyed on
versions (``services.rule_snapshot``) hold plain text that is still right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, and_, select, type_coerce, update
from sqlalchemy.orm import Session

from schema.base import Base, Encrypted, fernet_for


class RotationFailed(RuntimeError):
    """A stored secret opens under none of the keys given; nothing was changed."""


@dataclass(frozen=True)
class EncryptedTable:
    table: Table
    columns: tuple[Column[str], ...]


def encrypted_columns(metadata: MetaData = Base.metadata) -> list[EncryptedTable]:
    """Every table with ``Encrypted`` columns, by table name."""
    found = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        columns = tuple(c for c in table.columns if isinstance(c.type, Encrypted))
        if columns:
            found.append(EncryptedTable(table, columns))
    return found


def rotate_secrets(session: Session, old_keys: list[str], new_key: str) -> dict[str, int]:
    """Re-encrypt every secret under ``new_key``; returns values re-encrypted per table."""
    from cryptography.fernet import InvalidToken, MultiFernet

    # The first key encrypts; every key may decrypt.
    cipher = MultiFernet([fernet_for(new_key), *(fernet_for(k) for k in old_keys)])
    counts: dict[str, int] = {}
    for entry in encrypted_columns():
        table, pk = entry.table, list(entry.table.primary_key.columns)
        stored = [type_coerce(c, Text).label(c.name) for c in entry.columns]
        rows = session.execute(
            select(*pk, *stored).order_by(*pk).with_for_update()).mappings().all()
        count = 0
        for row in rows:
            values: dict[str, Any] = {}
            for column in entry.columns:
                token = row[column.name]
                if not token:  # None and "" are stored as they are, unencrypted
                    continue
                try:
                    values[column.name] = type_coerce(cipher.rotate(token.encode()).decode(), Text)
                except InvalidToken:
                    where = ", ".join(f"{c.name}={row[c.name]}" for c in pk)
                    raise RotationFailed(
                        f"{table.name}.{column.name} ({where}) opens under neither the current "
                        "nor the new secret key.") from None
            if values:
                count += len(values)
                # SET updated_at = updated_at: the column's onupdate would stamp it otherwise
                values.update({c.name: c for c in table.columns if c.onupdate is not None})
                session.execute(update(table).where(and_(*(c == row[c.name] for c in pk)))
                                .values(values))
        counts[table.name] = count
    return counts
