"""duplicate probe as a function that plans with sequential scans off

The probe looks each e-mail, phone and company key of new leads up in its index, at most N matches per
value (LATERAL ... LIMIT). PostgreSQL has no statistics for single array elements that occur once (every
e-mail, nearly every phone), so it takes 0.5% of the table as the matches of any value; with the LIMIT a
sequential scan then looks cheap ("the first match comes after 1/200 of the table"). The generic plan of
the service's prepared statement took that path for small batches (seen on 2,500 leads; the larger the
table, the more likely) and, since a new lead's values mostly match nothing, read the whole table per
value: 550 buffers and ~3 ms per create transaction in the lead intake bench, half of PostgreSQL's time.

The function runs the same query with enable_seqscan off (its SET clause applies while PL/pgSQL plans
and caches it), so every lookup is an index probe whatever the statistics say; the LIMIT still bounds
the work for a value that many leads share (a switchboard number).

Revision ID: 0008_duplicate_probe_function
Revises: 0007_config_version
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_duplicate_probe_function"
down_revision: str | None = "0007_config_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _lookup(kind: str, values: str, condition: str) -> str:
    """The leads matching each element ``q.v`` of the array parameter ``values``, at most p_most each."""
    return f"""
            SELECT m.id, '{kind}'::text, q.v::text
            FROM unnest({values}) AS q(v)
            CROSS JOIN LATERAL (
              SELECT l.id FROM lead l WHERE {condition} AND l.status <> 'merged' LIMIT p_most
            ) m"""


def upgrade() -> None:
    lookups = "\n            UNION ALL".join(
        [
            _lookup("email", "p_emails", "l.emails @> ARRAY[q.v]"),
            _lookup("phone", "p_phones", "l.phone_numbers @> ARRAY[q.v]"),
            _lookup("company", "p_companies", "l.company_key = q.v"),
        ]
    )
    op.execute(
        f"""
        CREATE FUNCTION lead_duplicate_candidates(
            p_emails varchar[], p_phones varchar[], p_companies varchar[], p_most integer
        ) RETURNS TABLE (lead_id uuid, kind text, value text)
        LANGUAGE plpgsql STABLE
        SET enable_seqscan = off
        AS $$
        #variable_conflict use_column
        BEGIN
          RETURN QUERY{lookups};
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS lead_duplicate_candidates(varchar[], varchar[], varchar[], integer)")
