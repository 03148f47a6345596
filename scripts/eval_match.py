"""Matcher quality on the dev set: routing accuracy, precision@3, nDCG@3 and hard-rule violations (must be 0).

Run through `scripts/eval_match [--dev tests/eval/match_dev.yml] [--experts experts] [--no-model]`. "Today" is
fixed (--today) so availability rules give the same answer every day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import yaml
from eval_search import require_embedder

from wijkwijzer.config import Settings
from wijkwijzer.domain.helprequests import request_from_json
from wijkwijzer.domain.matching import exclusion
from wijkwijzer.search.evaluation import ndcg, precision
from wijkwijzer.services import Services

ROOT = Path(__file__).resolve().parent.parent
K = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=ROOT / "tests" / "eval" / "match_dev.yml")
    parser.add_argument("--experts", type=Path, default=None, help="pool folder (default: WIJKWIJZER_EXPERTS_DIR)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 23))
    parser.add_argument("--no-model", action="store_true", help="term overlap instead of the embedding model")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every request's top 3")
    args = parser.parse_args()
    settings = Settings.from_env(base=ROOT)
    if args.experts:
        settings = replace(settings, experts_dir=args.experts.resolve())
    embedder = None if args.no_model else require_embedder(settings)
    svc = Services.build(settings, embedder=embedder)
    svc.knowledge.check()  # loads the taxonomy the pool validates themes against
    if embedder is None:
        svc.pool.embedder = None
    members = {m.id: m for m in svc.pool.members()}
    items = yaml.safe_load(args.dev.read_text(encoding="utf-8"))["requests"]

    routed, routed_unknown, unknown, unsure, rescued = 0, 0, 0, 0, 0
    precisions, gains, violations = [], [], []
    for item in items:
        request = svc.pool.normalise_request(request_from_json(item))
        result = svc.pool.match(request, today=args.today, limit=5)
        ids = [m.id for m in result.matches]
        routed += result.routing.pool == item["expected_pool"]
        if request.kind is None:
            unknown += 1
            routed_unknown += result.routing.pool == item["expected_pool"]
            unsure += result.routing.unsure
            # misrouted, but the coordinator sees the right pool's suggestions beside it
            rescued += result.routing.pool != item["expected_pool"] and result.routing.unsure and \
                result.routing.runner_up == item["expected_pool"]
        good = {str(k): int(v) for k, v in (item.get("good") or {}).items()}
        precisions.append(precision(ids, good, K))
        gains.append(ndcg(ids, good, K))
        for member_id in ids:
            broken = exclusion(members[member_id], request, 0.0, args.today)
            if broken or member_id in (item.get("forbidden") or []):
                violations.append(f"{item['id']}: {member_id} ({broken or 'in forbidden'})")
        if args.verbose:
            print(f"{item['id']} {result.routing.pool:<10} {result.routing.confidence:<7} "
                  f"(verwacht {item['expected_pool']:<10}) "
                  f"P@3 {precisions[-1]:.2f} nDCG@3 {gains[-1]:.2f}  {', '.join(ids[:K])}")
    n = len(items)
    model = embedder.model_id if embedder else "term overlap (no model)"
    print(f"{n} requests, {len(members)} members, similarity: {model}, today {args.today}")
    print(f"routing accuracy:        {routed / n:.3f}  ({routed}/{n}; 'weet ik niet': {routed_unknown}/{unknown})")
    print(f"route 'twijfel':         {unsure}/{unknown} 'weet ik niet' (both pools shown); misrouted but the "
          f"right pool shown beside: {rescued}")
    print(f"precision@{K}:             {statistics.mean(precisions):.3f}")
    print(f"nDCG@{K}:                  {statistics.mean(gains):.3f}")
    print(f"hard-rule violations:    {len(violations)}")
    for line in violations:
        print("   ", line)
    svc.close()
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
