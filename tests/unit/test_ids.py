"""Identifier generators."""

from __future__ import annotations

import re
import uuid

from linkhop.ids import new_link_id, uuid7, uuid7_text


def test_uuid7_text_is_a_version_7_uuid_in_canonical_form() -> None:
    for _ in range(2000):
        text = uuid7_text()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_uuid7_text_sorts_by_time_and_carries_the_millisecond() -> None:
    early, late = uuid7_text(now_ms=1_700_000_000_000), uuid7_text(now_ms=1_700_000_000_001)
    assert early < late
    assert uuid.UUID(early).int >> 80 == 1_700_000_000_000
    assert uuid.UUID(str(uuid7(now_ms=5))).int >> 80 == 5


def test_uuid7_text_does_not_repeat() -> None:
    assert len({uuid7_text(now_ms=1) for _ in range(10_000)}) == 10_000


def test_prefixed_ids() -> None:
    assert re.fullmatch(r"link_[0-9a-hjkmnp-tv-z]{26}", new_link_id())


def test_uuid7_text_threads_never_share_random_bits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def many(_: int) -> list[str]:
        return [uuid7_text(now_ms=7) for _ in range(5000)]

    with ThreadPoolExecutor(4) as pool:
        ids = [i for chunk in pool.map(many, range(4)) for i in chunk]
    assert len(set(ids)) == len(ids)


def test_uuid7_text_forked_child_does_not_repeat_the_parent() -> None:
    import os

    uuid7_text()  # the parent now holds a partly used pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave without running pytest's exit
        os.write(write, ",".join(uuid7_text(now_ms=9) for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {uuid7_text(now_ms=9) for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
