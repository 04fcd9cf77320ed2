"""Weights on disk: our ``.safetensors`` files (tensors + a JSON model configuration in the header) and
the authors' official ``.pth`` checkpoints (read with ``weights_only=True``, never unpickling code).

Every loader checks the file against the model it is meant for and says exactly what does not fit.
Imports torch; used only once a filter or a command needs weights.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vsinr.io.files import atomic_path

FORMAT = "vsinr-weights/1"


class WeightsError(ValueError):
    """A weights file that cannot be used: missing, damaged, or made for another model."""


def save(path: str | os.PathLike, state: Mapping[str, torch.Tensor], method: str, config: Mapping[str, Any],
         half: bool = True, source: Mapping[str, str] | None = None) -> None:
    """Write ``state`` as safetensors (float tensors in float16 when ``half``) with its configuration and,
    for a converted checkpoint, where it came from (``source``: file name and SHA-256, say).

    Written to a temporary file and renamed, so an existing file is never left half-written.
    """
    from safetensors.torch import save_file

    tensors = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value.contiguous()
    metadata = {"format": FORMAT, "method": method, "config": json.dumps(dict(config), sort_keys=True)}
    if source:
        metadata["source"] = json.dumps(dict(source), sort_keys=True)
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        os.chmod(tmp, 0o644)  # a model file others read, like any installed data


def read(path: str | os.PathLike, method: str) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of a weights file and its model configuration (None for an official checkpoint).

    ``.safetensors`` must be ours and for ``method``; anything else is read as an official PyTorch
    checkpoint with ``weights_only=True`` (a bare state_dict or one under a ``state_dict``/``params`` key).
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"weights {str(path)!r} is a folder; give the path of a .safetensors or .pth file")
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, method)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a pickle that would run code or build objects: never loaded
        raise WeightsError(
            f"{str(path)!r} holds Python objects, not only tensors, so it is not loaded (that could run code in "
            "it); official checkpoints are plain state dicts, our own weights are .safetensors"
        ) from None
    except Exception as exc:  # truncated zip, not a checkpoint at all
        raise WeightsError(
            f"{str(path)!r} is not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)}); "
            "official checkpoints are loaded with weights_only=True, our own weights are .safetensors"
        ) from None
    if isinstance(obj, Mapping):
        for key in ("state_dict", "params", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} holds no state_dict of tensors")
    # checkpoints saved from nn.DataParallel prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}, None


def _read_safetensors(path: Path, method: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as exc:
        raise WeightsError(f"{str(path)!r} is not a readable safetensors file ({_first_line(exc)})") from None
    if metadata.get("format") != FORMAT:
        raise WeightsError(f"{str(path)!r} is not a vsinr weights file (no {FORMAT!r} header)")
    if metadata.get("method") != method:
        raise WeightsError(f"{str(path)!r} holds weights for {metadata.get('method')!r}, not {method!r}")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError):
        raise WeightsError(f"{str(path)!r} has a damaged model configuration in its header") from None
    return tensors, config


@dataclass(frozen=True)
class Architecture:
    """One architecture of a method's family, as the family's loader sees it.

    ``kind`` is what a weights file's header records to name it ("" for the authors' architecture, whose
    files name none); ``build`` makes the model from the header's other fields (``TypeError`` or
    ``ValueError`` for fields it cannot use); ``official`` reads the configuration of an official
    checkpoint, which has no header, from its tensors (only the authors' architecture has one)."""

    kind: str
    build: Callable[[dict[str, Any]], torch.nn.Module]
    official: Callable[[dict[str, torch.Tensor]], dict[str, Any]] | None = None


def load_model(path: str | os.PathLike, method: str, family: Sequence[Architecture]) -> torch.nn.Module:
    """The model a weights file holds, in evaluation mode: ours (the header's ``kind`` picks the
    architecture of ``family``) or an official checkpoint (the architecture that reads one). Anything
    unusable is a ``WeightsError`` naming the file and what is wrong."""
    state, config = read(path, method)
    if config is None:
        chosen = next(a for a in family if a.official is not None)
        assert chosen.official is not None
        config = chosen.official(state)
    else:
        config = dict(config)
        kind = config.pop("kind", "")
        found = [a for a in family if a.kind == kind]
        if not found:
            known = ", ".join(repr(a.kind) for a in family if a.kind)
            raise WeightsError(f"{str(path)!r} holds a {method} model of kind {kind!r}; this version builds {known} "
                               "and the authors' architecture")
        chosen = found[0]
    try:
        model = build(lambda: chosen.build(config), state, repr(str(path)))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, WeightsError):
            raise
        raise WeightsError(f"{str(path)!r} has a model configuration this version cannot build: {exc}") from None
    return model.eval()


def build[M: torch.nn.Module](make: Callable[[], M], state: Mapping[str, torch.Tensor], source: str) -> M:
    """``make()`` loaded with ``state``, checked first against a copy of the model made on the meta device,
    which allocates nothing: a file's declared configuration (``nf=4096``, say) cannot make us allocate
    more than the tensors the file itself holds."""
    with torch.device("meta"):
        shell = make()
    check(shell.state_dict(), state, source)
    model = make()
    _load(model, state)
    return model


def check(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str) -> None:
    """``state`` has exactly the keys, shapes and kinds of dtype of ``expected`` and only finite values
    (a WeightsError naming what differs)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    wrong += [f"{k} of dtype {str(state[k].dtype).removeprefix('torch.')} (expected floating point)"
              for k, v in expected.items() if k in state and v.is_floating_point() and not state[k].is_floating_point()]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                shown = ", ".join(items[:6]) + (f" and {len(items) - 6} more" if len(items) > 6 else "")
                parts.append(f"{len(items)} {label}: {shown}")
        raise WeightsError(f"{source} does not fit this model ({'; '.join(parts)}); is it for another architecture?")
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise WeightsError(f"{source}: tensor {key} holds NaN or infinite values (a damaged file?)")


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` strictly (``check`` first)."""
    check(model.state_dict(), state, source)
    _load(model, state)


def _load(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load a ``check``ed ``state``, each tensor in the dtype of the model's own."""
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
