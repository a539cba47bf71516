"""BUG-### issues: lifecycle and priority rules (lifecycle.py), use cases (service.py)."""
