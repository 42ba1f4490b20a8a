"""Platform tables every service carries in its own database: outbox, inbox, dead letters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import Uuid


@dataclass(frozen=True)
class PlatformTables:
    outbox: Table
    inbox: Table
    dead_letter: Table


def platform_tables(metadata: MetaData) -> PlatformTables:
    outbox = Table(
        "outbox_event",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("seq", BigInteger, Identity(always=True), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("event_type", String(255), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index("ix_outbox_event_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )
    inbox = Table(
        "inbox_message",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("subject", String(255), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    dead_letter = Table(
        "dead_letter",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("consumer", String(128), nullable=False),
        Column("event_id", String(64)),
        Column("subject", String(255), nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("payload", LargeBinary, nullable=False),
        Column("reason", Text, nullable=False),
        Column("deliveries", Integer, nullable=False, server_default=text("1")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return PlatformTables(outbox=outbox, inbox=inbox, dead_letter=dead_letter)
