"""The paired remediation scripts, one executable per remediation."""
