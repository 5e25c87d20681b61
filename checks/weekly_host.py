"""Maintenance Windows, Weekly Maintenance step 1: system packages are up to date.

The runbook runs ``sudo apt update && sudo apt upgrade -y``. This check only reads what
the package lists downloaded by the last ``apt update`` offer: it never refreshes them
and never upgrades anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from opscheck.fixtures.host import Host, ListDate, Upgrade

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

SHOWN_PACKAGES = 20
DAY_S = 86400.0


def _wait_days(dates: list[ListDate], now: datetime) -> tuple[float, ListDate]:
    # The newest list gives a lower bound: each pending security version was
    # published no later than the list that offers it.
    newest = max(dates, key=lambda item: item.date)
    return (now - newest.date).total_seconds() / DAY_S, newest


def _names(upgrades: list[Upgrade]) -> str:
    names = ", ".join(upgrade.name for upgrade in upgrades[:5])
    more = len(upgrades) - 5
    return f"{names} and {more} more" if more > 0 else names


@check(
    id="host.packages",
    title="No package upgrade is pending, and no security upgrade waits long",
    suites=("weekly",),
    runbook="Maintenance Windows > Weekly Maintenance (step 1: update system packages)",
    per="host",
    description=(
        "Reads 'apt list --upgradable' on the host through testinfra (host.backend, default "
        "local://). Any pending upgrade warns. Upgrades from a '-security' suite are counted "
        "apart, and their wait is estimated from the Date field of the downloaded security "
        "Release files: the time since the newest of them was published, a lower bound. "
        "A host without apt is skipped. Nothing is refreshed or installed."
    ),
    levels=Levels(critical=7.0, unit="days"),
    options={"max_pending": 0},
)
def test_host_packages(host_system: Host, verdict: Verdict) -> None:
    verdict.record(backend=host_system.backend)
    if not host_system.has_command("apt"):
        verdict.skip(
            f"host {host_system.backend} has no apt, so its packages are not checked here"
        )

    upgrades = host_system.upgradable()
    security = [upgrade for upgrade in upgrades if upgrade.is_security]
    verdict.record(
        pending=len(upgrades),
        security_pending=len(security),
        security_packages=[upgrade.to_dict() for upgrade in security[:SHOWN_PACKAGES]],
        other_packages=[
            upgrade.to_dict() for upgrade in upgrades if not upgrade.is_security
        ][:SHOWN_PACKAGES],
    )

    if security:
        dates = host_system.security_list_dates()
        if not dates:
            verdict.warn(
                f"host {host_system.backend} has {len(security)} pending security upgrades "
                f"({_names(security)}) but no security Release file in the apt lists, so "
                "their wait cannot be estimated; run 'apt upgrade'"
            )
        else:
            days, newest = _wait_days(dates, datetime.now(UTC))
            verdict.record(
                security_list=newest.path,
                security_list_date=newest.date.isoformat(),
                security_list_date_source=newest.source,
                wait_estimate=(
                    "estimate: days since the newest security package list was "
                    "published, a lower bound of how long the upgrades have waited"
                ),
            )
            verdict.judge(
                days,
                subject=(
                    f"the estimated wait of {len(security)} security upgrades on host "
                    f"{host_system.backend} ({_names(security)})"
                ),
                name="security_wait_days",
            )

    waited = verdict.evidence.get("security_wait_days")
    wait_text = (
        f", waiting at least {waited:.1f} days by the package lists' dates"
        if isinstance(waited, float)
        else ""
    )
    max_pending = int(verdict.option("max_pending"))
    if len(upgrades) > max_pending:
        verdict.warn(
            f"host {host_system.backend} has {len(upgrades)} pending package upgrades "
            f"({len(security)} of them security{wait_text}), more than {max_pending}; run "
            "'apt update && apt upgrade' in the maintenance window"
        )
    verdict.passed(
        f"host {host_system.backend} has {len(upgrades)} pending package upgrades "
        f"({len(security)} security)"
    )
