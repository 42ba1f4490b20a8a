from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import IdMixin, utcnow
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_leads.db import Base


class Rep(Base):
    """A sales rep who can receive leads; id is the user's subject in the JWT."""

    __tablename__ = "rep"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    team: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    max_open_leads: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; empty means always working
    working_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    vacation_from: Mapped[dt.date | None] = mapped_column(Date)
    vacation_until: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AssignmentRule(IdMixin, Base):
    """Ordered rule: conditions on lead fields -> a pool of reps -> a strategy. First match wins."""

    __tablename__ = "assignment_rule"

    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=100, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    strategy: Mapped[str] = mapped_column(String(20), default="round_robin")
    rep_ids: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    followup_minutes: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PoolState(Base):
    """Per-rule strategy state, row-locked while choosing so concurrent intakes never share a turn."""

    __tablename__ = "assignment_pool_state"

    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class AssignmentDecision(IdMixin, Base):
    """Why a lead went to whom: rule, candidates with their availability, chosen rep, reason."""

    __tablename__ = "assignment_decision"

    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    strategy: Mapped[str] = mapped_column(String(20), default="")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    chosen_rep_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
