"""Keys: caller-supplied secrets, derived subkeys, a safe key id."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError
from fraudscore.keys import Keys


def test_subkeys_are_distinct_and_deterministic():
    a, b = Keys(b"a" * 20), Keys("a" * 20)
    assert a.pseudonym == b.pseudonym and a.key_id == b.key_id
    assert len({a.pseudonym, a.fingerprint[:32], a.key_id.encode()}) == 3
    assert Keys(b"b" * 20).key_id != a.key_id


def test_repr_never_shows_the_secret():
    k = Keys(b"super-secret-value-123")
    assert "super" not in repr(k) and k.key_id in repr(k)


def test_env_and_errors(monkeypatch):
    monkeypatch.delenv("FRAUDSCORE_KEY", raising=False)
    with pytest.raises(ConfigError, match="FRAUDSCORE_KEY"):
        Keys.resolve(None)
    monkeypatch.setenv("FRAUDSCORE_KEY", "x" * 16)
    assert Keys.resolve(None).key_id == Keys("x" * 16).key_id
    with pytest.raises(ConfigError):
        Keys(12345)  # type: ignore[arg-type]
    assert Keys(b"z" * 200).key_id == Keys(b"z" * 200).key_id
