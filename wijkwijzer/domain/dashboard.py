"""Figures for the coordinators' dashboard: requests over time, per pool and focus area, time to a match,
capacity in use, and where the knowledge base lacks case studies. Plain data; the page draws it."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

from wijkwijzer.domain.helprequests import to_help_request
from wijkwijzer.domain.matching import route
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.text.formats import local_date


def months_back(today: dt.date, n: int) -> list[str]:
    """The last n months as 'YYYY-MM', oldest first."""
    out, year, month = [], today.year, today.month
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def request_figures(rows: list[dict], events: list[dict], today: dt.date) -> dict:
    """Requests per month (12), per pool, per focus area, and the median days from request to first match."""
    per_month = Counter(f"{local_date(row['created']):%Y-%m}" for row in rows)  # the month in Amsterdam
    months = months_back(today, 12)
    pools = Counter(route(to_help_request(row)).pool for row in rows)
    areas = Counter(row.get("focus_area") or "" for row in rows)
    created = {row["id"]: dt.datetime.fromisoformat(row["created"]) for row in rows}
    first_match: dict[int, dt.datetime] = {}
    for event in events:
        if event["status"] == "gekoppeld" and event["request_id"] not in first_match:
            first_match[event["request_id"]] = dt.datetime.fromisoformat(event["at"])
    waits = [(first_match[i] - created[i]).total_seconds() / 86400 for i in first_match if i in created]
    return {
        "total": len(rows),
        "per_month": [(m, per_month.get(m, 0)) for m in months],
        "per_pool": [(POOLS[p], pools.get(p, 0)) for p in POOLS],
        "per_area": sorted(areas.items(), key=lambda kv: (-kv[1], kv[0])),
        "median_days_to_match": round(statistics.median(waits), 1) if waits else None,
        "matched": len(waits),
    }


def capacity_in_use(members: list, booked: dict[str, float], today: dt.date) -> list[dict]:
    """Per pool: hours per week available today and the share booked."""
    out = []
    for pool, label in POOLS.items():
        available = [m for m in members if m.pool == pool and m.hours_per_week > 0
                     and (not m.available_from or m.available_from <= today)
                     and (not m.available_until or m.available_until >= today)]
        hours = sum(m.hours_per_week for m in available)
        used = sum(min(booked.get(m.id, 0.0), m.hours_per_week) for m in available)
        out.append({"pool": label, "members": len(available), "hours": hours, "used": used,
                    "share": round(used / hours, 3) if hours else 0.0})
    return out


def coverage(cases: list[dict], taxonomy) -> dict:
    """Case studies per theme x action line, and per focus area (with the areas that have none)."""
    grid = Counter((t, a) for case in cases for t in case["themes"] for a in case["action_lines"])
    areas = Counter(case["focus_area"] for case in cases if case["focus_area"])
    top = max(grid.values(), default=0)
    return {
        "themes": list(taxonomy.themes.items()),
        "action_lines": list(taxonomy.action_lines.items()),
        "grid": {f"{t}|{a}": grid.get((t, a), 0) for t in taxonomy.themes for a in taxonomy.action_lines},
        "max": top,
        "areas": [(area.name, areas.get(key, 0)) for key, area in taxonomy.focus_areas.items()],
    }


def heat(count: int, top: int) -> int:
    """A colour step 0-4 for a heatmap cell (0 = no case studies at all)."""
    if count <= 0 or top <= 0:
        return 0
    return min(4, 1 + int(3 * count / top))
