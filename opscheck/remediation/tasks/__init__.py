"""The work of each remediation executable; ``remediations/NAME`` calls ``main``."""
