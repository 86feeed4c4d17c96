"""Ids come from a process-local generator (not `os.urandom`, not `uuid`): their shapes, and that
they differ, also in a forked child."""
import os
import re
import uuid

from llm_mock.formats.base import _BASE58_TABLE, hex_id, random_id, uuid4


def test_uuid4_is_a_version_4_rfc_4122_uuid_in_canonical_text():
    seen = set()
    for _ in range(2000):
        text = uuid4()
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
        seen.add(text)
    assert len(seen) == 2000


def test_id_shapes():
    assert re.fullmatch(r"req_[0-9a-f]{32}", hex_id("req_", 32))
    assert re.fullmatch(r"x[0-9a-f]{6}", hex_id("x", 7))
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", random_id("chatcmpl-", 29))
    assert re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{22}", random_id("", 22, _BASE58_TABLE))
    assert len({random_id("", 16) for _ in range(1000)}) == 1000


def test_a_forked_child_draws_other_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, random_id("", 24).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child != random_id("", 24) and len(child) == 24
