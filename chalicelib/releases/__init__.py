"""Bug-fix releases (docs/releases.md): the semver model and the release record (model.py), create/get/
list (service.py), the rollout worker ops (rollout.py), the gate (gate.py) and the operator's
start/promote/abort/rollback/status (operator.py)."""
