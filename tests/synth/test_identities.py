import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore.synth._digits import luhn_valid
from fraudscore.synth.identities import (DISPOSABLE_DOMAINS, bank_cards, emails, id_birth_date, id_checksum_valid,
                                         ips_in_prefixes, ipv4s, national_ids, phones)


def _iso7064(body: str) -> str:
    """Independent reference: ISO 7064 MOD 11-2 with weights 2^(17-i) mod 11."""
    s = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    return "10X98765432"[s % 11]


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1))
def test_national_ids_checksum_matches_reference(seed):
    rng = np.random.default_rng(seed)
    valid = rng.random(50) < 0.5
    ids = national_ids(rng, 50, valid=valid)
    for x, v in zip(ids, valid):
        assert len(x) == 18 and x[:17].isdigit()
        assert (x[17] == _iso7064(x[:17])) == v
        assert id_checksum_valid(x) == v
        assert id_birth_date(x) is not None


def test_valid_fraction_and_implausible_births():
    rng = np.random.default_rng(0)
    ids = national_ids(rng, 2000, valid=rng.random(2000) < 0.7)
    assert abs(np.mean([id_checksum_valid(x) for x in ids]) - 0.7) < 0.04
    bad = national_ids(rng, 500, implausible_birth=True)
    assert all(id_birth_date(x) is None for x in bad)
    ages = [2026 - id_birth_date(x)[0] for x in national_ids(rng, 500)]
    assert 19 <= min(ages) and max(ages) <= 61


def test_phones_cards_emails_ips():
    rng = np.random.default_rng(1)
    ph = phones(rng, 300)
    assert all(p.startswith("+861") and len(p) == 14 and p[1:].isdigit() for p in ph)
    valid = rng.random(400) < 0.8
    cards = bank_cards(rng, 400, valid=valid)
    assert [luhn_valid(c) for c in cards] == valid.tolist()
    assert {len(c) for c in cards} <= {16, 19} and all(c[:1] in "46" for c in cards)
    em = emails(rng, 400, disposable=np.arange(400) < 100)
    assert all(e.count("@") == 1 for e in em)
    assert all(e.split("@")[1] in DISPOSABLE_DOMAINS for e in em[:100])
    assert not any(e.split("@")[1] in DISPOSABLE_DOMAINS for e in em[100:])
    for ip in list(ipv4s(rng, 200)) + list(ips_in_prefixes(rng, ["47.94.12"], 20)):
        parts = ip.split(".")
        assert len(parts) == 4 and all(0 <= int(p) <= 255 for p in parts)
