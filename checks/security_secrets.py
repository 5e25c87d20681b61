"""Security Operations: the ``.env`` secrets are rotated and readable by their owner only.

The runbook prints ``stat -c %y .env`` as step 5 of the weekly security check. These
checks read the file's metadata and never its content, so no secret value can appear
in a report.
"""

from __future__ import annotations

from opscheck.fixtures.secrets import FileFacts

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict


@check(
    id="security.secrets_age",
    title="The .env secrets were changed within the rotation period",
    suites=("security",),
    runbook="Security Operations > Weekly Security Check (step 5: verify secrets rotation)",
    per="file",
    description=(
        "Reads the modification time of the secrets file (secrets.env_file) and warns when "
        "it is older than the rotation period. The file's content is never read."
    ),
    levels=Levels(warning=90.0, unit="days"),
    default_timeout_s=10.0,
)
def test_security_secrets_age(secrets_file: FileFacts, verdict: Verdict) -> None:
    verdict.record(**secrets_file.evidence())
    days = secrets_file.age_days()
    severity = verdict.judge(
        days,
        subject=(
            f"age of secrets file {secrets_file.path} "
            f"(last changed {secrets_file.modified_at:%Y-%m-%d})"
        ),
        name="age_days",
    )
    if severity == "warning":
        verdict.warn(
            "rotate the credentials in it and restart the services that read it"
        )


@check(
    id="security.secrets_permissions",
    title="The .env file is not readable or writable by group or others",
    suites=("security",),
    runbook="Security Operations > Security Incident Response (step 4: rotate credentials)",
    per="file",
    description=(
        "Reads the mode of the secrets file and fails when its group or other users may "
        "read or write it. Reports mode, owner and age, never a value from the file."
    ),
    default_timeout_s=10.0,
)
def test_security_secrets_permissions(
    secrets_file: FileFacts, verdict: Verdict
) -> None:
    verdict.record(**secrets_file.evidence())
    opened = secrets_file.open_to_others
    verdict.record(open_to=opened)
    if opened:
        verdict.fail(
            f"secrets file {secrets_file.path} has mode {secrets_file.mode_text} "
            f"(owner {secrets_file.owner}), which allows {', '.join(opened)}; run "
            f"'chmod 600 {secrets_file.path}' and rotate the secrets if others read them"
        )
    verdict.passed(
        f"secrets file {secrets_file.path} has mode {secrets_file.mode_text} and is owned "
        f"by {secrets_file.owner}"
    )
