"""Litter rule triggers let the cleaner skip a regex; they must never skip a real match.

For every rule with a `trigger`, strings the rule's regex matches are generated (hypothesis
`from_regex`); each one written in ASCII must hold one of the triggers, lower-cased. Suffix
rules rely on this to skip their search in ASCII text (ingest.clean._trim_suffix).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import litter
from ingest.clean import clean_html

TRIGGERED = [rule for rule in litter.RULES if rule.trigger]


def test_suffix_rules_have_triggers() -> None:
    assert {rule.name for rule in litter.SUFFIX_RULES if rule.trigger} == {r.name for r in litter.SUFFIX_RULES}


@pytest.mark.parametrize("rule", TRIGGERED, ids=lambda r: r.name)
def test_every_ascii_match_holds_a_trigger(rule: litter.LitterRule) -> None:
    assert rule.pattern is not None

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(rule.pattern, fullmatch=True, alphabet=st.characters(max_codepoint=127)))
    def check(text: str) -> None:
        assert rule.pattern.fullmatch(text)  # type: ignore[union-attr]
        assert any(t in text.lower() for t in rule.trigger), text

    check()


@pytest.mark.parametrize("phrase", [
    "Continue reading", "READ MORE »", "Read the rest of this entry", "Keep reading", "Read the full story",
    "Weiterlesen", "Mehr lesen", "Lire la suite", "Leer mas", "Seguir leyendo", "Continuare a leggere",
    "Leggi tutto", "Czytaj dalej", "Lees verder", "Ler mais", "Continuar lendo", "Devamini oku",
])
def test_ascii_more_phrases_are_still_trimmed(phrase: str) -> None:
    html = f"<p>The council approved the new budget on Tuesday after a long debate. {phrase}</p>"
    assert clean_html(html).text == "The council approved the new budget on Tuesday after a long debate."
