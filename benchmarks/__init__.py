"""ToxWatch benchmark (issue 8): `python -m benchmarks [--patients N] [--postgres-url URL | --start-postgres]`.

Not part of the test run (pytest.ini: testpaths = tests). For each database (a SQLite file, and PostgreSQL
when a URL is given or a temporary server is started) it seeds the registry-profile demo cohort and
measures, in one run:

- the cohort aggregate the naive way (every adverse-event row into pandas, then incidence.incidence_table)
  against the app's cohort aggregate (one GROUP BY over the onset summary), their ratio, and whether
  both give the same per-term patient counts;
- the cohort page and a busy patient's page rerun through streamlit's AppTest (median of 7 warm runs);
- saving an adverse event through records.create with 1 and with 10 concurrent writers (p50/p95);
- importing 10,000 adverse events through csv_import.import_files.

It prints one table per database with the issue's targets and writes the figures as JSON
(benchmarks/results/latest.json by default) so that runs can be compared (`--compare OLD.json`).

Modules: databases (prepare/seed, machine facts), timing (medians, percentiles), computation (naive vs
app), pages (AppTest), writes (saves, import), report (targets, tables, JSON).
"""
