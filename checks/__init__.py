"""The runbook as pytest checks, one module per runbook section."""
