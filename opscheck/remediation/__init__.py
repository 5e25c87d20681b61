"""The remediation runner: paired scripts run only when asked, locked, capped and audited."""
