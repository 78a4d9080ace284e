"""Clinical definitions (DESIGN.md, "Clinical definitions") that more than one layer uses."""
from __future__ import annotations

# An onset counts as treatment-emergent up to this many days after the patient stopped; follow-up ends then.
FOLLOW_UP_AFTER_STOP_DAYS = 30
