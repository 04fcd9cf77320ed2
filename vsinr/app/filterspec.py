"""Parse ``--filter`` strings such as ``STVSR(sscale=2, tscale=4)`` or ``STVSR(2, 4, method="classic")``.

Only a call of a name with literal arguments is accepted (parsed with ``ast``, never evaluated).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FilterCall:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __str__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def parse(text: str) -> FilterCall:
    """One filter call; raises ValueError with what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{text!r} is not a call like STVSR(sscale=2, tscale=4): {exc.msg}") from None
    call = tree.body
    if isinstance(call, ast.Name):  # a bare name: no arguments
        return FilterCall(call.id, (), {})
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError(f"{text!r} is not a call like STVSR(sscale=2, tscale=4)")
    try:
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except ValueError:
        raise ValueError(f"{text!r}: arguments must be literals (numbers, strings, lists)") from None
    return FilterCall(call.func.id, args, kwargs)
