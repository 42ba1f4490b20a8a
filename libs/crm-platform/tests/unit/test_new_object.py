"""crm_platform.db.new_object in a process where nothing has used the ORM yet (as in a service whose
first request is a create): the object must read like one built by the model's constructor."""

from __future__ import annotations

import subprocess
import sys

SNIPPET = """
import uuid
from crm_leads.leads.models import Lead
from crm_platform.db import new_object
lead = new_object(Lead, id=uuid.UUID(int=7), first_name="Zsofia", emails=["z@example.com"])
print(lead.first_name, lead.emails[0], lead.id.int)
"""


def test_new_object_is_readable_before_any_mapper_was_configured() -> None:
    out = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Zsofia", "z@example.com", "7"]
