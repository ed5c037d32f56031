"""Text normalization shared by both runtimes (Rasa pipeline and knowledge base).

Pure Python plus `opencc` and `PyYAML`: no Rasa, no torch, so both virtualenvs
import it. The tables live in ``training_data/normalization.yml``.
"""

from __future__ import annotations

from textnorm.normalize import Normalized, Normalizer, default_normalizer, normalize

__all__ = ["Normalized", "Normalizer", "default_normalizer", "normalize"]
