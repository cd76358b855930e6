"""Litter rule triggers and `first` characters let the cleaner skip regex work; they must never
skip a real match.

For every rule with a `trigger`, strings the rule's regex matches are generated (hypothesis
`from_regex`); each one written in ASCII (in any characters, for triggers without letters)
must hold one of the triggers, lower-cased. A suffix rule with `first` must find exactly what
the same regex without that lookahead finds.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import litter
from ingest.clean import clean_html

TRIGGERED = [rule for rule in litter.RULES if rule.trigger]
SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _plain(rule: litter.LitterRule) -> re.Pattern[str]:
    """The rule's regex without the `first` lookahead."""
    if rule.line:
        return re.compile(rule.line, re.IGNORECASE | re.DOTALL)
    return re.compile(rf"(?:{rule.suffix})\s*$", re.IGNORECASE)


def test_suffix_rules_have_triggers() -> None:
    assert {rule.name for rule in litter.SUFFIX_RULES if rule.trigger} == {r.name for r in litter.SUFFIX_RULES}


@pytest.mark.parametrize("rule", TRIGGERED, ids=lambda r: r.name)
def test_every_match_holds_a_trigger(rule: litter.LitterRule) -> None:
    alphabet = None if rule.caseless else st.characters(max_codepoint=127)

    @SETTINGS
    @given(st.from_regex(_plain(rule), fullmatch=True, alphabet=alphabet))
    def check(text: str) -> None:
        assert rule.pattern.fullmatch(text)  # type: ignore[union-attr]
        haystack = text if rule.caseless else text.lower()
        assert any(t in haystack for t in rule.trigger), text

    check()


@pytest.mark.parametrize("rule", [r for r in litter.RULES if r.first], ids=lambda r: r.name)
def test_first_characters_change_no_search(rule: litter.LitterRule) -> None:
    plain = _plain(rule)
    words = st.sampled_from(["Read more", "Continue reading", "ſeguir leyendo", "KEEP READING", "Weiterleſen",
                             "Читать далее", "läs mer", "続きを読む", " »", " …", "“Budget”", "text", " ", "\n"])

    @SETTINGS
    @given(st.lists(st.one_of(words, st.text(max_size=8), st.from_regex(plain, fullmatch=True)), max_size=5))
    def check(parts: list[str]) -> None:
        text = "".join(parts)
        found, expected = rule.pattern.search(text), plain.search(text)  # type: ignore[union-attr]
        assert (found and found.span()) == (expected and expected.span()), text

    check()


@pytest.mark.parametrize("phrase", [
    "Continue reading", "READ MORE »", "Read the rest of this entry", "Keep reading", "Read the full story",
    "Weiterlesen", "Mehr lesen", "Lire la suite", "Leer mas", "Seguir leyendo", "Continuare a leggere",
    "Leggi tutto", "Czytaj dalej", "Lees verder", "Ler mais", "Continuar lendo", "Devamini oku",
    "Читать далее", "Läs mer", "Leer más", "続きを読む",
])
def test_more_phrases_are_still_trimmed(phrase: str) -> None:
    html = f"<p>The council approved the new budget on Tuesday after a long debate. {phrase}</p>"
    assert clean_html(html).text == "The council approved the new budget on Tuesday after a long debate."


@pytest.mark.parametrize("rule", [r for r in litter.RULES if r.name in ("continue-reading-suffix", "continue-reading-text")],
                         ids=lambda r: r.name)
def test_a_long_punctuation_run_after_a_phrase_is_not_backtracked_through(rule: litter.LitterRule) -> None:
    # Before the decoration was possessive, each more "!" multiplied the work (40 of them: hours).
    text = "Read more " + "!" * 40 + " and the story goes on"
    assert (rule.pattern.search(text) if rule.suffix else rule.pattern.fullmatch(text)) is None
    assert (rule.pattern.search("Read more !!! »") if rule.suffix else rule.pattern.fullmatch("Read more !!! »"))
