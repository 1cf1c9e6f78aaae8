"""Versioned prompts: `analysis_v1.md`, … Each analysis records the version it used."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
# A new prompt is a new file (analysis_v2.md) and a new value here, never an edit in place.
CURRENT_VERSION = "analysis_v1"


@dataclass(frozen=True)
class Prompt:
    version: str
    text: str


@lru_cache
def load_prompt(version: str = CURRENT_VERSION) -> Prompt:
    return Prompt(version, (PROMPTS_DIR / f"{version}.md").read_text().strip())
