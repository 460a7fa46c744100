from __future__ import annotations

import pytest

from agent.outbox import Outbox


def test_entries_survive_a_restart_until_removed(tmp_path):
    box = Outbox(tmp_path / "outbox")
    for i in range(3):
        box.put({"client_id": f"c{i}", "kind": "measurement", "measurement": {"median_ms": i}})
    (tmp_path / "outbox" / "half-written.tmp").write_text("{")  # a write cut short by a kill
    restarted = Outbox(tmp_path / "outbox")
    assert [e["client_id"] for e in restarted.pending()] == ["c0", "c1", "c2"] and len(restarted) == 3
    restarted.remove("c1")
    restarted.remove("c1")  # removing twice is harmless
    assert [e["measurement"]["median_ms"] for e in Outbox(tmp_path / "outbox").pending()] == [0, 2]


def test_corrupt_and_refused_entries_are_kept_aside(tmp_path):
    box = Outbox(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    box.put({"client_id": "ok"})
    box.put({"client_id": "refused"})
    box.set_aside("refused")
    assert [e["client_id"] for e in box.pending()] == ["ok"]
    assert (tmp_path / "broken.corrupt").exists() and (tmp_path / "refused.refused").exists()


def test_unsafe_client_ids_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        Outbox(tmp_path).put({"client_id": "../escape"})
