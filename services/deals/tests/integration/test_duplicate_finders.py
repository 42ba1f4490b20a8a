"""Duplicate finders of contacts and organizations read their indexes, not the whole table, in custom and
generic plans alike. The leads probe showed the risk: PostgreSQL has no statistics for array elements that
occur once (an e-mail), assumes 0.5% of the table per value, and with a LIMIT a generic plan may then scan.
Checked on the scans PostgreSQL counts for the transaction, not on a time."""

from __future__ import annotations

from crm_deals.app import definition
from crm_deals.organizations.repository import OrganizationRepository
from sqlalchemy import text

SCANS = "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = :table"


async def test_finders_probe_indexes_in_custom_and_generic_plans(crm):
    deals = await crm.start(definition, wait_nats=False)
    async with deals.runtime.sessions() as s:
        await s.execute(
            text(
                "INSERT INTO organization (id, name, name_key, domain, phones, phone_numbers, team)"
                " SELECT gen_random_uuid(), 'Org ' || i, 'org ' || i, 'org' || i || '.example.com', '[]',"
                " ARRAY['+3620' || lpad(i::text, 7, '0')], 't1' FROM generate_series(1, 3000) AS i"
            )
        )
        await s.execute(
            text(
                "INSERT INTO contact (id, first_name, emails, phones, phone_numbers, team)"
                " SELECT gen_random_uuid(), 'C' || i, ARRAY['c' || i || '@example.com'], '[]',"
                " ARRAY['+3630' || lpad(i::text, 7, '0')], 't1' FROM generate_series(1, 3000) AS i"
            )
        )
        await s.commit()
        await s.execute(text("ANALYZE organization"))
        await s.execute(text("ANALYZE contact"))
        await s.commit()

    for mode in ("force_custom_plan", "force_generic_plan"):
        async with deals.runtime.sessions() as s:  # one transaction: its own scan counts
            await s.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))
            repo = OrganizationRepository(s)
            for i in range(7):  # past the five custom plans PostgreSQL makes before it weighs a generic one
                contacts = await repo.find_contacts(
                    team="t1",
                    emails=[f"new{i}@example.com"],
                    phones=["+36301234567" if i else "+36300000042"],
                )
                orgs = await repo.find_organizations(
                    team="t1",
                    domains=[f"new{i}.example.com"],
                    name_key=f"new org {i}",
                    phones=["+36209999999"],
                )
            assert [c.first_name for c, _ in contacts] == [] and orgs == []
            for table in ("contact", "organization"):
                seq, idx = (await s.execute(text(SCANS), {"table": table})).one()
                assert seq == 0 and idx > 0, f"{mode}: {seq} sequential scans of {table}"
            await s.rollback()
