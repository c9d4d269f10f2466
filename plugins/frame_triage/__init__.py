"""Frame triage: a deterministic simulated camera, labops-compatible metrics and bundle formats."""
