"""Reference data files (with their sources) and the demo-cohort generator."""
