import time, uuid
import pytest
from crm_leads.app import definition
from crm_leads.leads import service as ls, repository as lr
from crm_leads.assignment import service as asvc
import crm_platform.celery as pc

def timed(obj, name, acc):
    orig = getattr(obj, name)
    import asyncio
    if asyncio.iscoroutinefunction(orig):
        async def w(*a, **k):
            t = time.perf_counter()
            try: return await orig(*a, **k)
            finally: acc[name] = acc.get(name, 0) + time.perf_counter() - t
    else:
        def w(*a, **k):
            t = time.perf_counter()
            try: return orig(*a, **k)
            finally: acc[name] = acc.get(name, 0) + time.perf_counter() - t
    setattr(obj, name, w)

async def test_smoke(crm):
    leads = await crm.start(definition)
    csv = "First Name,Last Name,E-mail,Mobile\n" + "".join(f"A{i},B,a{i}@y.com,0912345{i:04d}\n" for i in range(1000))
    r = await leads.http.post("/api/v1/imports", content=csv.encode(), headers={**leads.auth(), "content-type": "text/csv"})
    import crm_leads.worker as w
    w.settings.database_url = leads.database_url
    from crm_leads.intake.tasks import _run_import
    acc = {}
    timed(lr.LeadRepository, "find_matches", acc)
    timed(lr.LeadRepository, "add_all", acc)
    timed(lr.LeadRepository, "add_audits", acc)
    timed(ls, "add_event", acc)
    timed(asvc.AssignmentService, "assign_new", acc)
    timed(w.celery, "send_task", acc)
    t = time.perf_counter()
    print(await _run_import(uuid.UUID(r.json()["id"]), chunk_rows=500))
    print("1000 rows", time.perf_counter() - t, acc)
