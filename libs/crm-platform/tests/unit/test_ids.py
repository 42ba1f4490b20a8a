"""UUIDv7 ids: version bits, order, uniqueness, and no shared random bits across a fork."""

from __future__ import annotations

import os
import uuid

from crm_platform.ids import new_id


def test_ids_are_uuid7_increasing_and_unique():
    ids = [new_id() for _ in range(5000)]  # crosses several refills of the random buffer
    assert all(x.version == 7 and x.variant == uuid.RFC_4122 for x in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len({x.int & ((1 << 62) - 1) for x in ids}) == len(ids)  # random parts differ too


def test_a_forked_child_does_not_reuse_the_parents_random_bits():
    new_id()  # the parent now holds unused random words
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the random part of its next id
        os.write(write, str(new_id().int & ((1 << 62) - 1)).encode())
        os._exit(0)
    os.close(write)
    child = int(os.read(read, 100))
    os.waitpid(pid, 0)
    assert child != new_id().int & ((1 << 62) - 1)
