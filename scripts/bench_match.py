"""Matcher benchmark: one request against N generated members (p95), and batch assignment, optimal vs greedy.

Members are generated from the sample pool (names, hours, regions, availability and conflicts varied) and
written as files. Their profile vectors are mixed from the real sample profiles' vectors (embedding thousands
of profiles would take long on 2 cores); every request is embedded for real.
Run through `scripts/bench_match [--members 5000] [--batch-requests 500 --batch-members 2000]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from bench_search import percentiles

from wijkwijzer.config import Settings
from wijkwijzer.domain.gemeenten import load_gemeenten
from wijkwijzer.domain.helprequests import request_from_json
from wijkwijzer.domain.pool import read_pool
from wijkwijzer.domain.taxonomy import load_taxonomy
from wijkwijzer.expertise import text_key
from wijkwijzer.services import Services, make_embedder

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 23)


def generate(folder: Path, n: int, seed: int = 1) -> None:
    """Write n members varied from the sample pool."""
    rng = random.Random(seed)
    taxonomy, _ = load_taxonomy(ROOT / "content")
    gemeenten = load_gemeenten()
    sample, _ = read_pool(ROOT / "experts", taxonomy, gemeenten)
    for i in range(n):
        base = rng.choice(sample)
        start = TODAY + dt.timedelta(days=rng.randint(-400, 120))
        meta = {
            "name": f"{base.name} {i}", "pool": base.pool, "role": base.role, "organisation": base.organisation,
            "expertise": rng.sample(list(base.expertise), max(1, len(base.expertise) - rng.randint(0, 2))),
            "themes": list(base.themes), "regions": rng.sample(list(gemeenten.provinces), rng.randint(1, 3)),
            "hours_per_week": rng.choice([0, 4, 8, 8, 12, 16, 16, 24]),
            "available_from": start.isoformat(),
            "available_until": (start + dt.timedelta(days=rng.randint(200, 900))).isoformat(),
            "conflicts": rng.sample(list(gemeenten.names), rng.randint(0, 2)),
        }
        target = folder / base.pool / f"lid-{i:05d}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + base.profile + "\n",
                          encoding="utf-8")


def requests(n: int, seed: int = 2) -> list[dict]:
    """n requests: the dev-set texts with other municipalities and hours."""
    rng = random.Random(seed)
    dev = yaml.safe_load((ROOT / "tests" / "eval" / "match_dev.yml").read_text(encoding="utf-8"))["requests"]
    names = list(load_gemeenten().names)
    out = []
    for i in range(n):
        item = dict(rng.choice(dev))
        # A variation of the wording, so each request is embedded for real (not found in the vector cache).
        item.update(id=f"b{i}", municipality=rng.choice(names), hours_per_week=rng.choice([None, 4, 8, 16]),
                    request=f"{item['request']} (aanvraag {i})")
        item.pop("start", None)
        out.append(item)
    return out


def pool_services(members: int, tmp: Path) -> Services:
    """Services over a generated pool, with mixed real profile vectors in the cache."""
    experts = tmp / f"experts-{members}"
    generate(experts, members)
    settings = replace(Settings.from_env(base=ROOT), experts_dir=experts, data_dir=tmp / f"data-{members}",
                       content_dir=ROOT / "content", watch_interval=0)
    embedder, reason = make_embedder(Settings.from_env(base=ROOT))
    if embedder is None:
        raise SystemExit(f"semantisch zoeken staat uit: {reason}")
    real = Services.build(replace(settings, experts_dir=ROOT / "experts", data_dir=ROOT / "data"), embedder)
    real.knowledge.check()
    base = real.pool.profile_matrix(real.pool.members())
    real.close()
    svc = Services.build(settings, embedder=embedder)
    svc.knowledge.check()
    t0 = time.perf_counter()
    pool = svc.pool.members()
    print(f"read {len(pool)} members in {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(4)
    mix = base[rng.integers(0, len(base), size=(len(pool), 2))].sum(axis=1) + rng.normal(0, 0.02, (len(pool), 384))
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    svc.pool.cache.put(embedder.model_id, {
        text_key(m.profile_text()): v.astype(np.float32) for m, v in zip(pool, mix, strict=True)})
    return svc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch-requests", type=int, default=500)
    parser.add_argument("--batch-members", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ww-bench-match-") as tmp:
        svc = pool_services(args.members, Path(tmp))
        reqs = [request_from_json(item) for item in requests(args.queries)]
        svc.pool.match(reqs[0], today=TODAY)  # model load and profile matrix, once
        for label in ("new request: embedded, then matched", "known request: vector cached, matched again"):
            times = []
            for request in reqs:
                t0 = time.perf_counter()
                svc.pool.match(request, today=TODAY)
                times.append(time.perf_counter() - t0)
            print(f"one request, {args.members} members: {percentiles(times)}  ({label})")
        svc.close()

        svc = pool_services(args.batch_members, Path(tmp))
        batch = [request_from_json(item) for item in requests(args.batch_requests, seed=3)]
        svc.pool.match(batch[0], today=TODAY)
        t0 = time.perf_counter()
        svc.pool.query_vectors([r.text for r in batch])
        print(f"embedding {len(batch)} requests: {time.perf_counter() - t0:.2f} s (once, when they arrive; cached)")
        t0 = time.perf_counter()
        _, optimal, greedy = svc.pool.assign(batch, today=TODAY)
        elapsed = time.perf_counter() - t0
        assigned = sum(m is not None for m in optimal.members)
        print(f"batch: {args.batch_requests} requests over {args.batch_members} members in {elapsed:.2f} s "
              f"(matching all and solving; greedy too)")
        print(f"total score: optimal {optimal.total:.2f} ({assigned} assigned), greedy {greedy.total:.2f} "
              f"({sum(m is not None for m in greedy.members)} assigned), ratio {optimal.total / greedy.total:.4f}")
        svc.close()


if __name__ == "__main__":
    main()
