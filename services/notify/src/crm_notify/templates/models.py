from __future__ import annotations

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_notify.db import Base


class Template(IdMixin, TimestampMixin, Base):
    """One message template for a (key, channel, locale); fa and he are laid out right to left."""

    __tablename__ = "template"
    __table_args__ = (UniqueConstraint("key", "channel", "locale", name="uq_template_key_channel_locale"),)

    key: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    locale: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="")
