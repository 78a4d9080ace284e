"""`models.ctcae.grade_lab`, the Python interface DESIGN.md promises other tools; the catalogue itself is
models.clinical.ctcae."""
from models.clinical.ctcae import grade_lab  # noqa: F401
