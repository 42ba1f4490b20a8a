"""All SQL on the recipient directory: users (REST) and the lead contact projection (events)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.directory.models import LeadContact, UserContact


class DirectoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user(self, user_id: str) -> UserContact | None:
        return await self.session.get(UserContact, user_id)

    async def users(self, limit: int) -> list[UserContact]:
        stmt = select(UserContact).order_by(UserContact.user_id).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def upsert_user(self, values: dict[str, Any]) -> UserContact:
        stmt = insert(UserContact).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[UserContact.user_id],
            set_={k: stmt.excluded[k] for k in values if k != "user_id"},
        ).returning(UserContact)
        return (await self.session.scalars(upsert, execution_options={"populate_existing": True})).one()

    async def delete_user(self, user: UserContact) -> None:
        await self.session.delete(user)
        await self.session.flush()

    async def lead(self, lead_id: uuid.UUID) -> LeadContact | None:
        return await self.session.get(LeadContact, lead_id)

    async def upsert_lead(self, values: dict[str, Any]) -> bool:
        """Insert or update unless the stored row was built from a newer event; True if written."""
        stmt = insert(LeadContact).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[LeadContact.lead_id],
            set_={k: stmt.excluded[k] for k in values if k != "lead_id"},
            where=LeadContact.as_of <= stmt.excluded.as_of,
        ).returning(LeadContact.lead_id)
        return (await self.session.execute(upsert)).first() is not None
