import datetime as dt

from crm.common.v1 import contact_point_pb2
from crm.leads.v1 import events_pb2, leads_pb2
from crm_notify.notify.events import lead_created_summary, occurred_at


def test_summary_names_the_lead_and_its_owner() -> None:
    event = events_pb2.LeadCreated(
        lead=leads_pb2.Lead(
            id="l-1",
            first_name="Dana",
            last_name="",
            company="Acme",
            owner_id="rep-7",
            team="t1",
            phones=[contact_point_pb2.Phone(e164="+972523456789")],
        )
    )
    summary = lead_created_summary(event)
    assert summary["lead_id"] == "l-1"
    assert summary["name"] == "Dana"  # no trailing space for a missing last name
    assert summary["owner_id"] == "rep-7"
    assert summary["phones"] == 1 and summary["emails"] == 0


def test_unassigned_lead_has_no_owner_and_missing_metadata_has_no_time() -> None:
    event = events_pb2.LeadCreated(lead=leads_pb2.Lead(id="l-2", company="Acme"))
    assert lead_created_summary(event)["owner_id"] is None
    assert occurred_at(event) is None
    when = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    event.metadata.occurred_at.FromDatetime(when)
    assert occurred_at(event) == when
