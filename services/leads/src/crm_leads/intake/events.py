"""Events of the intake domain.

Intake publishes no event of its own: a lead it accepts (web form, landing page, social form, CSV) is
stored by ``LeadService.create_many`` in the same transaction, which writes ``crm.leads.lead.created`` to
the outbox with ``intake_channel`` and ``source`` set. Import progress is read over REST, not published.
"""

from __future__ import annotations

# intake_channel values written on leads created here (the lead event carries them).
CHANNEL_CSV = "csv"
FORM_CHANNELS = ("web_form", "landing_page", "social_form", "email")
