"""Finding a patient as a nurse types (models.analysis.patient_search)."""
from __future__ import annotations

import pandas as pd

from models.analysis.patient_search import folded, search

CHOICES = pd.DataFrame({"mrn": ["DEMO-00112", "DEMO-00012", "DEMO-00120", "X-7"],
                        "name": ["Hazel Oakhurst", "Ann Example", "Zoë Ünïcode", "Oak, Hazel"]})


def mrns(query: str) -> list[str]:
    return list(search(CHOICES, query)["mrn"])


def test_words_in_any_order_and_without_accents():
    assert mrns("oakhurst hazel") == ["DEMO-00112"]
    assert mrns("hazel oak") == ["DEMO-00112", "X-7"]  # words start name words of both: by MRN
    assert mrns("zoe unicode") == mrns("ZOË") == ["DEMO-00120"]
    assert folded("Zoë Ünïcode") == "zoe unicode"


def test_the_exact_mrn_or_its_number_comes_first():
    assert mrns("12")[:2] == ["DEMO-00012", "DEMO-00112"]
    assert mrns("demo-00120")[0] == "DEMO-00120"
    assert mrns("") == list(CHOICES["mrn"]) and mrns("nobody") == []
