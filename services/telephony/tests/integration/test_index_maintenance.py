"""The phone index's own maintenance: idempotent upserts and the normalise_index Celery task."""

from __future__ import annotations

from crm_platform.db import utcnow
from crm_platform.testing.harness import eventually
from crm_telephony.app import definition
from crm_telephony.phonebook.models import PhoneIndexEntry
from crm_telephony.phonebook.repository import PhoneIndexRepository
from crm_telephony.phonebook.schemas import IndexedRecord
from crm_telephony.phonebook.service import PhoneIndexService
from crm_telephony.phonebook.tasks import normalise_index
from sqlalchemy import select


async def _numbers(svc) -> list[tuple[str, str]]:
    async with svc.runtime.sessions() as s:
        rows = (await s.execute(select(PhoneIndexEntry.e164, PhoneIndexEntry.record_id))).all()
    return sorted((r.e164, r.record_id) for r in rows)


async def test_indexing_a_record_again_replaces_its_numbers(crm):
    telephony = await crm.start(definition, wait_nats=False)
    record = IndexedRecord(service="leads", record_type="lead", record_id="l-1", phones=["+989123456789"])
    for _ in range(2):  # applying the same record twice leaves one row
        async with telephony.runtime.unit_of_work() as s:
            await PhoneIndexService(s).index_record(record)
    assert await _numbers(telephony) == [("+989123456789", "l-1")]

    changed = record.model_copy(
        update={"display_name": "Ali", "phones": ["+36301234567", "+36 30 123 4567", "garbage"]}
    )
    async with telephony.runtime.unit_of_work() as s:
        assert await PhoneIndexService(s).index_record(changed) == ["+36301234567"]
    assert await _numbers(telephony) == [("+36301234567", "l-1")]
    async with telephony.runtime.unit_of_work() as s:
        [entry] = (await PhoneIndexService(s).lookup("06 30 123 4567", "HU")).entries
    assert entry.display_name == "Ali"


async def test_normalise_index_task_rekeys_stale_numbers_in_a_real_worker(crm):
    telephony = await crm.start(definition, wait_nats=False, celery_worker=True)
    async with telephony.runtime.unit_of_work() as s:
        repo = PhoneIndexRepository(s)
        # rows as an older numbering plan or a lax producer might have left them
        for record_id, numbers in (
            ("l-1", ["+98 912 345 6789"]),
            ("l-2", ["+989121111111", "+98-912-111-1111"]),
        ):
            await repo.replace_numbers(
                "leads", "lead", record_id, numbers, display_name="", owner_id=None, now=utcnow()
            )

    result = normalise_index.delay(1)  # one row per page: the task walks every page

    async def done():
        return result.ready()

    await eventually(done, timeout=20)
    assert result.get() == 2
    assert await _numbers(telephony) == [("+989121111111", "l-2"), ("+989123456789", "l-1")]
    assert normalise_index.delay().get(timeout=20) == 0  # idempotent
