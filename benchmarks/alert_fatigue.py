"""Alert fatigue as a measured figure (issue 18.5): for a database and an analysis date, the alerts raised in the
last 7 days per 100 patients on treatment (on treatment or within 30 days of the last dose), by tier, and the
share of those patients with an open (unacknowledged) alert, by tier. "Raised in the last 7 days" counts the
alerts still open on the analysis date whose cause began in that week. Not part of the test run.

    python -m benchmarks.alert_fatigue --url sqlite:///data/toxwatch.db [--as-of YYYY-MM-DD]
"""
from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

from models.analysis import worklist
from models.clinical import alerts as alert_data
from models.store import queries


def figures(url: str, as_of: date) -> dict:
    started = time.perf_counter()
    alerts = worklist.worklist(url, as_of=as_of, include_acknowledged=False)
    seconds = time.perf_counter() - started
    watched = worklist.watched_patients(queries.patients(url), queries.dose_events(url), queries.death_dates(url),
                                        as_of)
    n = len(watched)
    week = as_of - timedelta(days=7)
    result = {"as_of": as_of.isoformat(), "patients_on_treatment": n, "seconds": round(seconds, 2), "tiers": {}}
    for tier in alert_data.TIERS:
        of_tier = [a for a in alerts if a.tier == tier]
        new = [a for a in of_tier if a.since > week]
        flagged = {a.patient_id for a in of_tier}
        result["tiers"][tier] = {
            "open_alerts": len(of_tier),
            "new_per_100_patients_per_week": round(100 * len(new) / n, 1) if n else None,
            "patients_flagged_pct": round(100 * len(flagged) / n, 1) if n else None,
            "by_rule": {rule: sum(a.rule == rule for a in of_tier) for rule in sorted({a.rule for a in of_tier})}}
    flagged_any = {a.patient_id for a in alerts}
    result["patients_flagged_any_pct"] = round(100 * len(flagged_any) / n, 1) if n else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="database URL")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    result = figures(args.url, args.as_of)
    print(f"{args.url} as of {result['as_of']}: {result['patients_on_treatment']} patients on treatment "
          f"(worklist computed in {result['seconds']} s)")
    for tier, numbers in result["tiers"].items():
        print(f"  {alert_data.TIER_LABELS[tier]:16} open {numbers['open_alerts']:5}  new per 100 patients per week "
              f"{numbers['new_per_100_patients_per_week']}  patients flagged {numbers['patients_flagged_pct']}%  "
              f"{numbers['by_rule']}")
    print(f"  any tier: {result['patients_flagged_any_pct']}% of patients on treatment flagged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
