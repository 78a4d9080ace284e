"""Clinical knowledge as pure functions over data, with no database: the CTCAE catalogue and lab grading,
vocabularies, reference rate sets, the label's dose rules, dose-sequence rules and dosing arithmetic.

Everything clinical is read from seed_data/ with its source and status. Imports only models.settings and
this package (tests/application/test_layers.py)."""
