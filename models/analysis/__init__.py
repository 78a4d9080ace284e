"""Computations over stored data behind the pages and reports: cohort incidence against a reference,
time to event, the cohort analysis, the roster, one patient's course and the dosing audit.

Reads through models.store's queries and applies models.clinical's rules; never writes."""
