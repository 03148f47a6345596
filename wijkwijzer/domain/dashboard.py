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


def service_levels(rows: list[dict], events: list[dict], links: list[dict], feedback: list[dict],
                   today: dt.date, response_days: int = 5) -> list[dict]:
    """Per pool: open requests without a first response after `response_days` working days, invitations without
    an answer, the median days to the first response and to a full team, and the submitters' feedback (count,
    average 1-5, the latest reasons). A first response is the first event after the submission (a status change
    or an invitation)."""
    from wijkwijzer.domain.teams import working_days_between

    pool_of = {row["id"]: route(to_help_request(row)).pool for row in rows}
    created = {row["id"]: dt.datetime.fromisoformat(row["created"]) for row in rows}
    first_response: dict[int, dt.datetime] = {}
    full_team: dict[int, dt.datetime] = {}
    seen: set[int] = set()
    for event in events:
        request_id = event["request_id"]
        if request_id not in seen:
            seen.add(request_id)  # the submission itself
            continue
        first_response.setdefault(request_id, dt.datetime.fromisoformat(event["at"]))
        if event["status"] == "gekoppeld":
            full_team.setdefault(request_id, dt.datetime.fromisoformat(event["at"]))

    def days(moments: dict[int, dt.datetime], pool: str) -> float | None:
        waits = [(moment - created[i]).total_seconds() / 86400 for i, moment in moments.items()
                 if i in created and pool_of[i] == pool]
        return round(statistics.median(waits), 1) if waits else None

    out = []
    for pool, label in POOLS.items():
        late = [row for row in rows if pool_of[row["id"]] == pool and row["id"] not in first_response
                and row["status"] == "nieuw"
                and working_days_between(created[row["id"]].date(), today) >= response_days]
        waiting = [link for link in links if link["state"] == "uitgenodigd" and link["active"]
                   and pool_of.get(link["request_id"]) == pool]
        scores = [f for f in feedback if f["pool"] == pool]
        out.append({
            "pool": label, "late": len(late), "late_ids": [row["id"] for row in late],
            "invitations_open": len(waiting),
            "invitations_reminded": sum(1 for link in waiting if link.get("reminded")),
            "median_days_first_response": days(first_response, pool),
            "median_days_full_team": days(full_team, pool),
            "feedback_count": len(scores),
            "feedback_average": round(statistics.fmean(f["useful"] for f in scores), 1) if scores else None,
            "feedback_spread": [sum(1 for f in scores if f["useful"] == n) for n in range(1, 6)],
            "feedback_reasons": [f["why"] for f in scores if f["why"]][:5],
        })
    return out
