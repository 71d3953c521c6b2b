"""Status conditions (``status.conditions[]``) the way Kubernetes tools read
them: one entry per type, ``lastTransitionTime`` moving only when the status
flips."""

import time
from typing import Any, Optional

from .errors import Invalid

STATUSES = ("True", "False", "Unknown")


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it (``2026-01-01T00:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def set_condition(
    obj: dict,
    type: str,
    status: str,
    reason: str = "",
    message: str = "",
    observed_generation: Optional[int] = None,
) -> bool:
    """Sets condition ``type`` in ``obj["status"]["conditions"]``, keeping the
    old ``lastTransitionTime`` when the status did not change. Returns whether
    anything changed."""
    if status not in STATUSES:
        raise Invalid(f"condition {type}: status must be True, False or Unknown, not {status!r}")
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    new: dict[str, Any] = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    for i, old in enumerate(conditions):
        if old.get("type") == type:
            if old.get("status") == status and "lastTransitionTime" in old:
                new["lastTransitionTime"] = old["lastTransitionTime"]
            changed = old != new
            conditions[i] = new
            return changed
    conditions.append(new)
    return True


def get_condition(obj: dict, type: str) -> Optional[dict]:
    """The condition of ``type``, if set."""
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == type:
            return c
    return None
