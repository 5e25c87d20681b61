"""Deployment Procedures: the pre-deployment checklist, the deployed version, the rollback.

No program can see some items of the runbook's checklist (staging tests passed, team
notified, rollback plan ready, on-call engineer available). A person or a CI job
attests them with ``--attest KEY[=NOTE]``. The version and rollback checks read the images that
the Docker engine runs and keeps.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from opscheck.fixtures.compose import ComposeService, ContainerState
from opscheck.fixtures.images import (
    VERSION_LABEL,
    ImageReference,
    ImageStore,
    LocalImage,
)

from opscheck.config.model import Config
from opscheck.declaration import check
from opscheck.plugin.state import RunState
from opscheck.plugin.verdict import Verdict

CHECKLIST = "Deployment Procedures > Standard Deployment > Pre-Deployment Checklist"
# The services that deploy-production.sh pulls and updates one at a time.
DEPLOYED_SERVICES = ["backend", "frontend"]


@check(
    id="deploy.attestations",
    title="Every manual checklist item is attested for this deploy",
    suites=("deploy_gate",),
    runbook=CHECKLIST,
    per="item",
    description=(
        "The items listed under deploy.attestations in the config (staging tests passed, "
        "team notified, rollback plan ready, on-call engineer available) must each be "
        "attested for this run with --attest KEY[=NOTE] or --attest-file. The result "
        "records who attested each item, when and with which note."
    ),
    phases=("pre",),
)
def test_deploy_attestations(
    target: str, run: RunState, opscheck_config: Config, verdict: Verdict
) -> None:
    given = {attestation.key: attestation for attestation in run.attestations}
    expected = list(opscheck_config.deploy.attestations)
    missing = [key for key in expected if key not in given]
    verdict.record(item=target, expected=expected, missing=missing)

    attestation = given.get(target)
    if attestation is None:
        verdict.fail(
            f"checklist item {target} is not attested (missing: {', '.join(missing)}); "
            f"confirm it, then pass --attest {target}[=NOTE]"
        )

    verdict.record(attestation=attestation.to_dict())
    note = f": {attestation.note}" if attestation.note else ""
    verdict.passed(
        f"checklist item {target} attested by {attestation.by} at {attestation.at} "
        f"({attestation.source}){note}"
    )


def in_window(moment: time, start: time, end: time) -> bool:
    """Tell whether a time of day is inside ``[start, end)``, which may cross midnight.

    A window whose start equals its end is read as the whole day.
    """
    if start == end:
        return True
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def until_start(now: datetime, start: time) -> timedelta:
    """Return the time from ``now`` until the window next opens, in now's time zone."""
    opening = now.replace(
        hour=start.hour, minute=start.minute, second=start.second, microsecond=0
    )
    if opening <= now:
        opening += timedelta(days=1)
    return opening - now


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@check(
    id="deploy.offpeak_window",
    title="The deploy runs inside the off-peak window",
    suites=("deploy_gate",),
    runbook=f"{CHECKLIST} (Off-peak hours, if possible)",
    per="gate",
    description=(
        "Compares the current time in deploy.offpeak.timezone with the window from "
        "deploy.offpeak.start to deploy.offpeak.end (22:00 to 06:00 by default; a window "
        "whose end is before its start crosses midnight). The runbook says 'if possible', "
        "so a deploy outside the window is a warning."
    ),
    phases=("pre",),
)
def test_deploy_offpeak_window(opscheck_config: Config, verdict: Verdict) -> None:
    window = opscheck_config.deploy.offpeak
    zone = ZoneInfo(window.timezone)
    now = datetime.now(zone)
    shown = f"{window.start:%H:%M}-{window.end:%H:%M} {window.timezone}"
    verdict.record(
        now=now.isoformat(timespec="seconds"),
        start=f"{window.start:%H:%M}",
        end=f"{window.end:%H:%M}",
        timezone=window.timezone,
    )

    if in_window(now.time(), window.start, window.end):
        verdict.passed(f"now {now:%H:%M} is inside the off-peak window {shown}")
        return

    wait = until_start(now, window.start)
    verdict.record(opens_in_s=round(wait.total_seconds()))
    verdict.warn(
        f"now {now:%H:%M} {window.timezone} is outside the off-peak window {shown}, "
        f"which opens in {_duration(wait)}; deploy then if possible"
    )


def _running(service: ComposeService, verdict: Verdict) -> list[ContainerState]:
    containers = [state for state in service.containers() if state.running]
    if not containers:
        verdict.fail(
            f"service {service.name} has no running container, so no image of it can "
            "be checked; see services.running"
        )
    return containers


def _deployed_services(service: ComposeService, verdict: Verdict) -> None:
    deployed = list(verdict.option("services"))
    if service.name not in deployed:
        verdict.skip(
            f"service {service.name} is not one of the deployed services "
            f"({', '.join(deployed)}); list it under "
            f"checks.{verdict.declaration.id}.services to check it"
        )


def version_names(reference: str, image: LocalImage | None) -> set[str]:
    """Return every name that identifies a running image: tag, reference, id, digests."""
    parsed = ImageReference.parse(reference)
    names = {reference}
    if parsed.tag:
        names.add(parsed.tag)
    if parsed.digest:
        names.add(parsed.digest)
    if image is not None:
        names.update({image.id, image.short_id, image.id.removeprefix("sha256:")})
        names.update(image.tags)
        for tag in image.tags_of(parsed.repository):
            tag_name = ImageReference.parse(tag).tag
            if tag_name:
                names.add(tag_name)
        for digest in image.repo_digests:
            names.add(digest)
            names.add(digest.partition("@")[2])
        if VERSION_LABEL in image.labels:
            names.add(image.labels[VERSION_LABEL])
    return {name for name in names if name}


@check(
    id="services.image_version",
    title="Each deployed service runs the version being deployed",
    suites=("deploy_gate",),
    runbook=(
        "Deployment Procedures > Deployment Steps (Deployed version: $VERSION); "
        "Post-Deployment Verification"
    ),
    per="service",
    description=(
        "Compares the image of each running container of a deployed service with "
        "--expect-version: its tag, full reference, image id, repository digest or "
        "org.opencontainers.image.version label must equal it. Skipped without "
        "--expect-version, and for services the deploy does not update."
    ),
    options={"services": DEPLOYED_SERVICES},
    phases=("post",),
)
def test_services_image_version(
    service: ComposeService, image_store: ImageStore, run: RunState, verdict: Verdict
) -> None:
    expected = run.expect_version
    if not expected:
        verdict.skip(
            "no version to compare with; pass --expect-version VERSION to check the "
            "running images"
        )
    _deployed_services(service, verdict)
    verdict.record(expected=expected)

    containers = _running(service, verdict)
    seen = []
    wrong = []
    for state in containers:
        image = image_store.get(state.image_id)
        names = version_names(state.image, image)
        seen.append(
            {
                "container": state.name,
                "image": state.image,
                "image_id": image.short_id if image else state.image_id,
            }
        )
        if expected not in names:
            wrong.append(state)
    verdict.record(containers=seen)

    if wrong:
        running = ", ".join(f"{state.name} runs {state.image}" for state in wrong)
        verdict.fail(
            f"service {service.name} does not run version {expected}: {running}; "
            "deploy it again or roll back"
        )
    images = ", ".join(sorted({state.image for state in containers}))
    verdict.passed(f"service {service.name} runs version {expected} ({images})")


@check(
    id="services.rollback_image",
    title="The previous image of each deployed service is kept locally for a rollback",
    suites=("deploy_gate",),
    runbook="Deployment Procedures > Rollback Procedure (Option 1: previous image, if still cached)",
    per="service",
    description=(
        "Looks for another local image in the repository of each running container's "
        "image, other than the one it runs. Without it the runbook's rollback option 1 "
        "(restart to the previous image) needs a pull, which may not be possible."
    ),
    options={"services": DEPLOYED_SERVICES},
    phases=("post",),
)
def test_services_rollback_image(
    service: ComposeService, image_store: ImageStore, verdict: Verdict
) -> None:
    _deployed_services(service, verdict)

    found: dict[str, list[str]] = {}
    absent: list[str] = []
    for state in _running(service, verdict):
        repository = ImageReference.parse(state.image).repository
        current = image_store.get(state.image_id)
        current_id = current.id if current else state.image_id
        previous = [
            image
            for image in image_store.of_repository(repository)
            if image.id != current_id
        ]
        found[state.name] = [
            tag for image in previous for tag in image.tags_of(repository)
        ] or [image.short_id for image in previous]
        if not previous:
            absent.append(f"{state.name} runs {state.image}")
    verdict.record(previous_images=found)

    if absent:
        verdict.warn(
            f"service {service.name} has no previous image kept locally for a rollback "
            f"({'; '.join(absent)}, and no other image of its repository is present); "
            "keep the previous tag until the deploy is verified"
        )
        return
    shown = ", ".join(sorted({tag for tags in found.values() for tag in tags[:1]}))
    verdict.passed(f"service {service.name} can roll back to {shown}")
