"""Privacy: raw personal identifiers never reach a store, a bundle, a snapshot, a log or an output file.

One end-to-end flow writes everything fraudscore can write — a bundle (directory
and zip), a memory-store snapshot, Redis keys and values, batch output files,
decisions as JSON, logs — then greps all of it for every raw identifier of the
input, in the raw and in the normalised forms.
"""

from __future__ import annotations

import json
import logging
import re


import fraudscore as fs

from .helpers import SECRET, synthetic

ID_FIELDS = ("applicant_id", "phone", "email", "bank_card", "ip", "inviter_id")


def _needles(events):
    out = set()
    for ev in events:
        for f in ID_FIELDS:
            v = ev.get(f)
            if isinstance(v, str) and len(v) >= 6:
                out.add(v)
                out.add(v.lower())
                digits = re.sub(r"\D", "", v)
                if f in ("phone", "bank_card", "applicant_id") and len(digits) >= 8:
                    out.add(digits[-11:] if f == "phone" else digits)
                if f == "ip":
                    out.add(".".join(v.split(".")[:3]) + ".0/24")
    return sorted(out)


_TOKEN = re.compile(r"[A-Za-z0-9._@+/-]+")


def _grep(blobs: dict[str, bytes], needles):
    """Names of blobs holding a needle as a whole token (case-insensitive), with the needle's first characters."""
    wanted = {n.lower() for n in needles}
    found = []
    for name, blob in blobs.items():
        tokens = set(_TOKEN.findall(blob.decode("utf-8", "replace").lower()))
        tokens |= {t.strip(".-/") for t in tokens}
        for hit in sorted(tokens & wanted):
            found.append((name, hit[:3] + "..."))
    return found


def _readable(path) -> bytes:
    """File contents with compression undone (snapshots are gzip, Parquet is compressed, zips are zips)."""
    import zipfile

    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv().encode()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            return b"\n".join(zf.read(n) for n in zf.namelist())
    if path.name.endswith(".snapshot"):
        from fraudscore.velocity.snapshot import read_any_snapshot

        kind, payload, blob = read_any_snapshot(path)
        return json.dumps(payload).encode() + (blob or b"")  # the compiled store's is a binary dump
    return path.read_bytes()


def test_no_raw_identifier_is_written_anywhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = synthetic(n_days=21, per_day=120, seed=5)
    events = data.to_records()
    needles = _needles(events)
    assert len(needles) > 500

    result = fs.train(data.columns, data.labels, key=SECRET,
                      config={"model": {"num_boost_round": 20, "early_stopping_rounds": 10}})
    result.save(tmp_path / "bundle")
    result.save(tmp_path / "bundle2", zip=True)

    scorer = fs.load(tmp_path / "bundle", key=SECRET)
    decisions = [scorer.score(ev, explain=True, return_features=True).to_dict() for ev in events]
    for a, f, t in zip(data.labels["application_id"], data.labels["is_fraud"], data.labels["label_ts"]):
        scorer.record_label(a, bool(f), int(t))
    (tmp_path / "decisions.json").write_text(json.dumps(decisions, default=str))
    scorer.store.snapshot(tmp_path / "velocity.snapshot")

    batch = fs.Scorer(scorer.bundle, SECRET).score_batch(events, return_features=True, explain=True)
    df = batch.to_pandas()
    df.to_csv(tmp_path / "batch.csv")
    df.to_parquet(tmp_path / "batch.parquet")

    blobs = {str(p.relative_to(tmp_path)): _readable(p) for p in tmp_path.rglob("*") if p.is_file()}
    blobs["log"] = caplog.text.encode()
    blobs["repr(scorer state)"] = repr(vars(scorer.store)).encode()
    assert any(name.startswith("bundle/") for name in blobs) and "velocity.snapshot" in blobs
    assert _grep(blobs, needles) == []
    # the check itself works: a raw value planted in a file is found
    assert _grep({"planted": f"x,{events[0]['phone']},y".encode()}, needles)


def test_redis_holds_only_pseudonyms(redis_client, redis_prefix):
    client, prefix = redis_client, redis_prefix
    from .helpers import small_bundle

    data = synthetic()
    events = data.to_records()[:300]
    sc = fs.Scorer(small_bundle(), SECRET, store=fs.RedisStore(client, prefix=prefix))
    for ev in events:
        sc.score(ev)
    for a, f, t in zip(data.labels["application_id"][:300], data.labels["is_fraud"][:300],
                       data.labels["label_ts"][:300]):
        sc.record_label(a, bool(f), int(t))
    blobs = {}
    for key in client.scan_iter(match=prefix + "*", count=1000):
        kind = client.type(key).decode()
        value = {"string": client.get, "hash": client.hgetall, "zset": lambda k: client.zrange(k, 0, -1),
                 "list": lambda k: client.lrange(k, 0, -1), "set": client.smembers}.get(kind, lambda k: b"")(key)
        blobs[key.decode()] = key + b" " + repr(value).encode()
    assert len(blobs) > 50
    assert _grep(blobs, _needles(events)) == []
