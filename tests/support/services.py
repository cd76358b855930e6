"""Skipping tests whose service is missing — except under CI, where a missing service fails."""

from __future__ import annotations

import os

import pytest


def under_ci() -> bool:
    """True when running under CI (`CI=true`)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(reason: str) -> None:
    """Skip the test with `reason`, or fail it under CI: CI must never skip silently."""
    if under_ci():
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")


def shared_path(*parts: str) -> str:
    """A path inside ../shared (the corpora); skips the test when it is absent."""
    path = os.path.normpath(os.path.join(SHARED, *parts))
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (the shared corpus is not checked out beside the project)")
    return path
