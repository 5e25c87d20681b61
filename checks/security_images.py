"""Security Operations, Weekly Security Check steps 1-2: running images are scanned and fresh.

The runbook scans the backend image with ``aquasec/trivy image`` and pulls newer images.
These checks scan the image of every running service with Trivy when it is installed,
and read each image's creation time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from opscheck.fixtures.compose import ComposeService, ContainerState, parse_docker_time
from opscheck.fixtures.images import ImageStore
from opscheck.fixtures.scanner import INSTALL_HINT, Trivy

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

SHOWN_FINDINGS = 20


def _running_images(service: ComposeService, verdict: Verdict) -> list[ContainerState]:
    """Return one running container per distinct image, or end the check without any."""
    __tracebackhide__ = True
    running = [state for state in service.containers() if state.running]
    if not running:
        verdict.error(
            f"service {service.name} has no running container, so its image cannot be checked; "
            f"start it with 'docker-compose up -d {service.name}'"
        )
    distinct: dict[str, ContainerState] = {}
    for state in running:
        distinct.setdefault(state.image_id, state)
    return list(distinct.values())


@check(
    id="security.image_scan",
    title="The image of each service has no CRITICAL vulnerability",
    suites=("security",),
    runbook="Security Operations > Weekly Security Check (step 1: scan images)",
    per="image",
    description=(
        "Runs 'trivy image --format json --quiet IMAGE' on the image of each running "
        "container of the service and counts the findings per severity. Any CRITICAL "
        "finding fails. Skipped, with how to install it, when trivy is not on the PATH."
    ),
    levels=Levels(critical=0, unit="count"),
    options={"scan_timeout_s": 300.0},
    default_timeout_s=900.0,
)
def test_security_image_scan(
    service: ComposeService, scanner: Trivy, verdict: Verdict
) -> None:
    if not scanner.is_installed:
        verdict.skip(
            f"no vulnerability scanner is installed: trivy is not on the PATH; {INSTALL_HINT}"
        )

    timeout_s = float(verdict.option("scan_timeout_s"))
    scanned = []
    worst: tuple[int, str] = (-1, "")
    for state in _running_images(service, verdict):
        report = scanner.scan(state.image, timeout_s)
        critical = report.of_severity("CRITICAL")
        scanned.append(
            {
                "image": state.image,
                "image_id": state.image_id,
                "counts": report.counts(),
                "critical": [
                    finding.to_dict() for finding in critical[:SHOWN_FINDINGS]
                ],
            }
        )
        worst = max(worst, (len(critical), state.image))
    verdict.record(scanner=scanner.program, images=scanned)

    count, image = worst
    verdict.judge(
        count,
        subject=f"the number of CRITICAL vulnerabilities in image {image} of service {service.name}",
        name="critical_findings",
    )


@check(
    id="security.image_age",
    title="The image of each service was built within the last 90 days",
    suites=("security",),
    runbook="Security Operations > Weekly Security Check (step 2: check for updates)",
    per="image",
    description=(
        "Reads the Created time of the image of each running container of the service. "
        "An old image misses the security fixes of its base image; rebuild or pull it."
    ),
    levels=Levels(warning=90.0, unit="days"),
    default_timeout_s=30.0,
)
def test_security_image_age(
    service: ComposeService, image_store: ImageStore, verdict: Verdict
) -> None:
    now = datetime.now(UTC)
    ages: list[tuple[float, str, datetime]] = []
    for state in _running_images(service, verdict):
        image = image_store.get(state.image_id)
        created = parse_docker_time(image.created) if image is not None else None
        if created is None:
            verdict.error(
                f"image {state.image} of service {service.name} has no readable creation "
                f"time ({image.created if image else 'image not found'})"
            )
        ages.append(((now - created).total_seconds() / 86400.0, state.image, created))
    verdict.record(
        images=[
            {"image": name, "created": created.isoformat(), "age_days": round(days, 2)}
            for days, name, created in ages
        ]
    )

    days, name, created = max(ages)
    severity = verdict.judge(
        days,
        subject=(
            f"age of image {name} of service {service.name} (created {created:%Y-%m-%d})"
        ),
        name="age_days",
    )
    if severity == "warning":
        verdict.warn("rebuild or pull the image and recreate the service's containers")
