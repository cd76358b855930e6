"""The README stays true: every config key is documented, every CLI command is listed."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from feedrelay import config as cfg
from feedrelay.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models(arg)]


def keys(model: type[BaseModel]) -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        found.add(name)
        for sub in models(field.annotation):
            found |= keys(sub)
    return found


def test_every_config_key_is_in_the_reference() -> None:
    reference = section("Configuration reference")
    documented = set(re.findall(r"`[^`]*`", reference))
    text = " ".join(documented)
    missing = sorted(k for k in keys(cfg.Config) if not re.search(rf"\b{k}\b", text))
    assert missing == []


def test_every_command_is_in_the_cli_reference() -> None:
    reference = section("CLI reference")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert sorted(c for c in commands if f"`{c}" not in reference) == []
