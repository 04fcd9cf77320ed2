"""Neural building blocks shared by the method plugins (imports torch: plugins import it lazily)."""

from __future__ import annotations

from typing import Any


def check_config(counts: dict[str, Any] | None = None, flags: dict[str, Any] | None = None,
                 blocks: dict[str, Any] | None = None) -> None:
    """Refuse configuration values of the wrong kind before a model is built from them (a weights
    file's header is not trusted): ``counts`` must be whole numbers from 1, ``blocks`` from 0, ``flags``
    true or false. Raises ``ValueError`` naming the field."""
    for group, low in ((counts or {}, 1), (blocks or {}, 0)):
        for name, value in group.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number from {low}, got {value!r}")
    for name, value in (flags or {}).items():
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
