"""Counts with their nouns in the right number: "1 category", "2 categories", "1 warning".

Every count a person reads (plan summaries, notices, doctor, validate, messages) goes
through :func:`count`, so no rendering says "1 warnings" or "2 categorys"."""

from __future__ import annotations

import re

#: Nouns the rules below get wrong, or that do not change.
_IRREGULAR = {"staff": "staff", "info": "info", "person": "people"}


def plural(noun: str) -> str:
    """The plural of ``noun``; of its last word when it has several ("more notice")."""
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR:
        many = _IRREGULAR[last]
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        many = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        many = last + "es"
    else:
        many = last + "s"
    return f"{head} {many}" if head else many


#: ``[singular|plural]`` in a phrase written for any number.
_CHOICE = re.compile(r"\[([^|\[\]]*)\|([^\[\]]*)\]")


def agree(n: int, phrase: str) -> str:
    """``phrase`` for ``n`` things: each ``[singular|plural]`` in it resolved, so one
    phrase reads right for any count ("[course is|courses are] left as [it is|they are]")."""
    return _CHOICE.sub(lambda m: m.group(1) if n == 1 else m.group(2), phrase)


def count(n: int, noun: str) -> str:
    """``n`` (thousands separated) and ``noun``, singular for exactly one."""
    return f"{n:,} {noun if n == 1 else plural(noun)}"
