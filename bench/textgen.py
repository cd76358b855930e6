"""Deterministic synthetic article text for the dedup corpus, benchmarks and tests.

Words are built from syllables (Latin or Cyrillic), so texts are unique per seed and have a
natural-looking length and word distribution without shipping any real articles.
"""

from __future__ import annotations

import random
from functools import cache

LATIN = ["ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu",
         "va", "we", "xi", "yo", "za", "st", "tr", "an", "en", "or", "el", "is", "ul"]
CYRILLIC = ["ба", "ве", "ги", "до", "жу", "за", "ки", "ло", "му", "на", "по", "ры", "се", "ту", "фа",
            "хо", "це", "чи", "ша", "щу", "ст", "пр", "ов", "ен", "ал", "ый", "ий", "ем"]
COMMON_EN = ["the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with", "as", "was", "by"]
COMMON_RU = ["и", "в", "не", "на", "что", "с", "по", "это", "как", "из", "к", "за", "от", "о"]


class TextGen:
    """Sentences, paragraphs and titles in one language ("en" or "ru") from a seeded RNG."""

    def __init__(self, seed: int, language: str = "en", vocabulary: int = 5000) -> None:
        self.rng = random.Random(seed)
        self.common = COMMON_RU if language == "ru" else COMMON_EN
        self.vocabulary = _vocabulary(language, vocabulary)

    def word(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice(self.common)
        return self.rng.choice(self.vocabulary)

    def sentence(self) -> str:
        words = [self.word() for _ in range(self.rng.randint(7, 16))]
        return words[0].capitalize() + " " + " ".join(words[1:]) + "."

    def paragraph(self, sentences: int | None = None) -> str:
        return " ".join(self.sentence() for _ in range(sentences or self.rng.randint(2, 5)))

    def paragraphs(self, count: int) -> list[str]:
        return [self.paragraph() for _ in range(count)]

    def title(self) -> str:
        words = [self.word() for _ in range(self.rng.randint(4, 9))]
        return words[0].capitalize() + " " + " ".join(words[1:])


@cache
def _vocabulary(language: str, size: int) -> tuple[str, ...]:
    syllables = CYRILLIC if language == "ru" else LATIN
    rng = random.Random(f"vocab-{language}")
    return tuple(sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}))
