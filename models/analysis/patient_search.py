"""Finding a patient by what a nurse types: an MRN or its number, or words of the name in any order, with
accents and case ignored; the closest matches first."""
from __future__ import annotations

import re
import unicodedata

import pandas as pd


def folded(text: str) -> str:
    """Lower case without accents ("Zoë Ünïcode" -> "zoe unicode"), for matching only."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _number(text: str) -> int | None:
    digits = re.findall(r"\d+", text)
    return int(digits[-1]) if digits else None


def search(choices: pd.DataFrame, query: str) -> pd.DataFrame:
    """The rows of `choices` (mrn, name, ...) whose MRN and name hold every word of `query`, ranked: the
    exact MRN (or an MRN whose number is the number typed: "12" is DEMO-00012 before DEMO-00112), then MRNs
    that contain it, then names whose words start with the words typed, then the rest; by MRN within each."""
    words = folded(query).split()
    if not words or choices.empty:
        return choices
    mrns, names = choices["mrn"].map(folded), choices["name"].map(folded)
    text = mrns + " " + names
    found = pd.Series(True, index=choices.index)
    for word in words:
        found &= text.str.contains(word, regex=False)
    whole, number = " ".join(words), _number(query) if query.strip().isdigit() else None

    def rank(index) -> int:
        mrn = mrns[index]
        if mrn == whole or (number is not None and _number(mrn) == number):
            return 0
        if whole in mrn:
            return 1
        name_words = names[index].replace(",", " ").split()
        return 2 if all(any(w.startswith(word) for w in name_words) for word in words) else 3

    matches = choices[found]
    order = sorted(matches.index, key=lambda i: (rank(i), matches.at[i, "mrn"]))
    return matches.loc[order]
