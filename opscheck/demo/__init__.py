"""The bundled demo stack: the runbook's compose project in small, with faults."""
