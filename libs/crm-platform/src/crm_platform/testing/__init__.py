"""Test support: real PostgreSQL/NATS/Redis for integration tests, and in-process running services.

Load it with ``-p crm_platform.testing.plugin`` (the root pytest config does). Fixtures:

- ``servers``: :class:`ServerUrls` of real servers (env URLs, else testcontainers, else embedded).
- ``crm``: a :class:`ServiceHarness`; ``await crm.start(definition)`` starts a service in-process on a
  fresh database migrated by Alembic, with its relay, consumers and gRPC server running.
"""

from crm_platform.testing.harness import RunningService, ServiceHarness
from crm_platform.testing.servers import ServerUrls

__all__ = ["RunningService", "ServerUrls", "ServiceHarness"]
