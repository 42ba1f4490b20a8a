import pytest
from crm.common.v1 import contact_point_pb2
from crm.deals.v1 import events_pb2 as deals_events
from crm.leads.v1 import events_pb2 as leads_events
from crm.leads.v1 import leads_pb2
from crm_platform.contact_points import normalise_phone as to_e164
from crm_telephony.phonebook.events import contact_record, lead_record


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("۰۹۱۲۳۴۵۶۷۸۹", "IR", "+989123456789"),  # Persian digits, as a caller ID or a rep types it
        ("٠٩١٢٣٤٥٦٧٨٩", "ir", "+989123456789"),  # Arabic-Indic digits, lower-case region
        ("00989123456789", "IR", "+989123456789"),  # the region's international prefix
        ("tel:+98-912-345-6789", "HU", "+989123456789"),
        ("+36 30 123 4567", "", "+36301234567"),  # no region needed with a country code
        ("052-345-6789", "IL", "+972523456789"),
    ],
)
def test_numbers_are_keyed_by_their_e164_form(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(("raw", "region"), [("", "IR"), ("12", "IR"), ("09123456789", ""), ("9" * 70, "IR")])
def test_unusable_numbers_are_refused_with_a_reason(raw: str, region: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        to_e164(raw, region)


def test_lead_and_contact_events_become_index_records() -> None:
    lead = leads_pb2.Lead(id="l-1", company="Acme", owner_id="", phones=[contact_point_pb2.Phone(e164="+1")])
    record = lead_record(leads_events.LeadCreated(lead=lead))
    assert (record.service, record.record_type, record.record_id) == ("leads", "lead", "l-1")
    assert record.display_name == "Acme"  # falls back to the company without a person's name
    assert record.owner_id is None and record.phones == ["+1"]

    contact = deals_events.ContactCreated(contact_id="c-1", display_name="Dana Levi", owner_id="rep-2")
    record = contact_record(contact)
    assert (record.service, record.record_type, record.display_name, record.owner_id) == (
        "deals",
        "contact",
        "Dana Levi",
        "rep-2",
    )
