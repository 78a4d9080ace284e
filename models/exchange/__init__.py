"""Data in and out of the app: CSV import (all or nothing, through the one write path) and CSV export, in
the formats DESIGN.md fixes. The home of FHIR and SDTM exchange."""
