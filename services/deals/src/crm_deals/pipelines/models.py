from __future__ import annotations

import uuid

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_deals.db import Base

STAGE_KINDS = ("open", "won", "lost")
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")


class Pipeline(IdMixin, TimestampMixin, Base):
    __tablename__ = "pipeline"
    __table_args__ = (Index("uq_pipeline_default", "is_default", unique=True, postgresql_where="is_default"),)

    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    stages: Mapped[list[Stage]] = relationship(
        order_by="Stage.position", lazy="selectin", cascade="all, delete-orphan"
    )


class Stage(IdMixin, TimestampMixin, Base):
    __tablename__ = "stage"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "position", name="uq_stage_pipeline_position"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        CheckConstraint("kind IN ('open', 'won', 'lost')", name="kind"),
    )

    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    probability: Mapped[int] = mapped_column(SmallInteger)
    forecast_category: Mapped[str] = mapped_column(String(20))
    max_days_in_stage: Mapped[int] = mapped_column(Integer, default=0)
