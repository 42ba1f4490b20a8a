"""The phone index: a local projection of other services' records by phone, for screen pops and
lookups without a remote call. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from crm_platform.contact_points import normalise_phone as to_e164
from crm_platform.db import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from crm_telephony.phonebook.exceptions import InvalidPhone
from crm_telephony.phonebook.models import PhoneIndexEntry
from crm_telephony.phonebook.repository import PhoneIndexRepository
from crm_telephony.phonebook.schemas import IndexedRecord

log = logging.getLogger(__name__)

INTERNATIONAL = ""  # no default region: only numbers with a country code parse


@dataclass(frozen=True)
class PhoneLookup:
    e164: str
    entries: list[PhoneIndexEntry]


@dataclass(frozen=True)
class RenormalisedPage:
    last_id: uuid.UUID | None  # None: the whole index has been visited
    changed: int


class PhoneIndexService:
    def __init__(self, session: AsyncSession, default_region: str = "IR") -> None:
        self.session = session
        self.repo = PhoneIndexRepository(session)
        self.default_region = default_region

    async def index_record(
        self, record: IndexedRecord, event_at: dt.datetime | None = None
    ) -> list[str] | None:
        """Make the record's phones exactly those given. Events carry E.164 by contract, so numbers are
        read without a default region; one that does not parse is skipped. Re-applying the same record
        changes nothing. ``event_at``: when the event that carries the record happened; an event older
        than the latest applied one for the record, or about a record merged away, is skipped (events
        of one record come through several consumers, so they may be handled out of order). Returns the
        indexed E.164 numbers, or None when skipped."""
        if event_at is not None and not await self.repo.claim(
            record.service, record.record_type, record.record_id, event_at
        ):
            log.info(
                "phonebook: %s %s: event of %s skipped (a later one was applied, or the record was merged)",
                record.record_type,
                record.record_id,
                event_at.isoformat(),
            )
            return None
        numbers: list[str] = []
        for raw in record.phones:
            try:
                e164 = to_e164(raw, INTERNATIONAL)
            except ValueError as exc:
                log.warning(
                    "phonebook: %s %s: unusable phone (%s)", record.record_type, record.record_id, exc
                )
                continue
            if e164 not in numbers:
                numbers.append(e164)
        await self.repo.replace_numbers(
            record.service,
            record.record_type,
            record.record_id,
            numbers,
            display_name=record.display_name,
            owner_id=record.owner_id,
            now=utcnow(),
        )
        return numbers

    async def merge_record(
        self, survivor: IndexedRecord, merged_id: str, event_at: dt.datetime | None = None
    ) -> list[str] | None:
        """``merged_id`` (a record of the survivor's service and type) was merged into ``survivor``: its
        phones belong to the survivor now (the producer sends the survivor with the union of both
        records' phones), so its own entries go and every later event about it is skipped."""
        await self.repo.mark_merged(
            survivor.service, survivor.record_type, merged_id, survivor.record_id, event_at or utcnow()
        )
        await self.repo.replace_numbers(
            survivor.service,
            survivor.record_type,
            merged_id,
            [],
            display_name="",
            owner_id=None,
            now=utcnow(),
        )
        return await self.index_record(survivor, event_at)

    async def lookup(self, phone: str, region: str | None = None) -> PhoneLookup:
        try:
            e164 = to_e164(phone, region or self.default_region)
        except ValueError as exc:
            raise InvalidPhone(str(exc)) from None
        return PhoneLookup(e164=e164, entries=await self.repo.find(e164))

    async def renormalise_page(self, after: uuid.UUID | None, limit: int = 500) -> RenormalisedPage:
        """Re-key one page of the index to today's canonical E.164 (e.g. after a numbering-plan update
        in phonenumbers); a row that now equals another row of the same record is dropped."""
        entries = await self.repo.page_after(after, limit)
        changed = 0
        for entry in entries:
            try:
                canonical = to_e164(entry.e164, INTERNATIONAL)
            except ValueError as exc:
                log.warning("phonebook: stored number %s no longer parses (%s); kept", entry.e164, exc)
                continue
            if canonical == entry.e164:
                continue
            changed += 1
            key = (entry.record_service, entry.record_type, entry.record_id)
            if await self.repo.holds(canonical, *key):
                await self.repo.remove(entry.id)
            else:
                await self.repo.set_number(entry.id, canonical, utcnow())
        last = entries[-1].id if len(entries) == limit else None
        return RenormalisedPage(last_id=last, changed=changed)
