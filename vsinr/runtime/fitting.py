"""Methods fitted to the clip itself (OF-SIREN, SNeRV): pieces of chunks, fitted once, kept on disk.

A window of ``vsinr.serving.timing.Chunks`` is split into chunks and, at scene changes, into pieces. Each piece
is fitted on the first request of one of its output frames and kept in memory and in the disk cache
under a key made of the method, its settings and the piece's pixels, so a second run of the same
script (or another script on the same frames) does not fit again. Fits hold only their own piece's
lock: while one piece fits, frames of pieces already fitted are served, and up to ``FIT_JOBS`` other
pieces fit at once (``vsinr fit SCRIPT.vpy`` prepares every piece of a script ahead of playback).
Imports torch; used only once a filter is created.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from vsinr.host.methods import EngineRequest, Fitted, FittedEngine
from vsinr.runtime import weights
from vsinr.serving.scheduling import Renderer
from vsinr.serving.timing import Chunks


class FitError(RuntimeError):
    """A fit failed (non-finite input, loss or weights): nothing is rendered or cached from it."""


def check_finite(frames: torch.Tensor) -> None:
    """Refuse frames to fit that hold NaN or infinite pixels, naming the first such frame (``FitError``)."""
    finite = torch.isfinite(frames.reshape(len(frames), -1)).all(1)
    if not finite.all():
        bad = (~finite).nonzero().flatten().tolist()
        raise FitError(f"{len(bad)} of the {len(frames)} frames to fit (the first is number {bad[0]} of the piece) hold "
                       "non-finite (NaN or infinite) pixels; clean the source first (e.g. core.std.Expr)")


def cache_dir(setting: str) -> Path | None:
    """The folder the ``cache`` argument names (None for ``off``)."""
    if setting == "off":
        return None
    if setting:
        return Path(setting).expanduser()
    if os.environ.get("VSINR_CACHE"):
        return Path(os.environ["VSINR_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vsinr"


class FitStore:
    """Fitted pieces by key: the last few in memory, all of them on disk (when there is a folder)."""

    def __init__(self, method: str, directory: Path | None, capacity: int = 6):
        self.method = method
        self.directory = directory
        self.capacity = capacity
        self._memory: OrderedDict[str, Fitted] = OrderedDict()
        self._lock = threading.Lock()

    def path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.method}-{key[:40]}.safetensors"

    def checkpoint(self, key: str) -> Path | None:
        """Where a fit in progress keeps its checkpoint (None without a folder)."""
        return None if self.directory is None else self.directory / f"{self.method}-{key[:40]}.fitting.safetensors"

    @contextlib.contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Hold the piece's lock file in the cache folder while fitting it, so that processes sharing
        the folder (the workers of a segmented run, on this machine or on several) fit it once: a
        second one waits, then finds the fit on disk. The empty lock files stay, in ``locks/``
        (removing one while another process waits on it would let a third fit at the same time)."""
        if self.directory is None:
            yield
            return
        import fcntl

        try:
            locks = self.directory / "locks"
            locks.mkdir(exist_ok=True)
            handle = open(locks / f"{self.method}-{key[:40]}.lock", "a")  # noqa: SIM115 (held across the yield)
        except OSError:  # a read-only cache: fits are not shared, and not written either (``put``)
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get(self, key: str, log: Callable[[str], None]) -> Fitted | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            state, config = weights.read(path, self.method)
        except weights.WeightsError as exc:  # damaged (a crash mid-copy, a full disk): fit again
            log(f"ignoring a damaged cache file, fitting again: {exc}")
            return None
        fitted = (state, config or {})
        self._remember(key, fitted)
        return fitted

    def put(self, key: str, fitted: Fitted, log: Callable[[str], None]) -> None:
        self._remember(key, fitted)
        path = self.path(key)
        if path is None:
            return
        try:
            weights.save(path, fitted[0], self.method, fitted[1], half=False)  # written beside, then renamed
        except OSError as exc:
            log(f"could not write the cache file {str(path)!r} ({exc}); the fit is kept in memory only")

    def _remember(self, key: str, fitted: Fitted) -> None:
        with self._lock:
            self._memory[key] = fitted
            self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)


#: Pieces fitted at the same time in a process (each fit already uses every core or the GPU; a second
#: one keeps the graph moving while the first runs, more would only share the same hardware).
FIT_JOBS = 2
_fit_slots = threading.BoundedSemaphore(FIT_JOBS)
_piece_locks: dict[str, threading.Lock] = {}
_piece_locks_lock = threading.Lock()
_seed_lock = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator and hold it while a fit builds its network: fits of different
    pieces run at once, and each network must start from its own seed."""
    with _seed_lock:
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _fitting(key: str) -> Iterator[None]:
    """One fit per piece at a time (a second request for it waits for the first fit), at most
    ``FIT_JOBS`` fits at once."""
    with _piece_locks_lock:
        lock = _piece_locks.setdefault(key, threading.Lock())
    with lock, _fit_slots:
        yield


class BuiltCache:
    """What an engine builds from a fitted state to render it (a network on the device, flow fields...),
    kept for the last ``capacity`` states it rendered: chunk blending alternates between two
    neighbouring pieces, and each should be built once, not once per frame. States are matched by
    identity (the store hands out the same objects while it holds them)."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self._built: OrderedDict[int, tuple[object, Any]] = OrderedDict()
        self._lock = threading.RLock()  # fits of other pieces put while a render gets

    def put(self, state: object, built: Any) -> None:
        with self._lock:
            self._built[id(state)] = (state, built)
            self._built.move_to_end(id(state))
            while len(self._built) > self.capacity:
                self._built.popitem(last=False)

    def get(self, state: object, build: Callable[[], Any]) -> Any:
        """What was built for ``state``, building it with ``build()`` the first time."""
        with self._lock:
            entry = self._built.get(id(state))
            if entry is None or entry[0] is not state:  # ids are reused once a state is gone
                self.put(state, build())
            self._built.move_to_end(id(state))
            return self._built[id(state)][1]


_stores: dict[tuple[str, Path | None], FitStore] = {}
_stores_lock = threading.Lock()


def store_for(method: str, directory: Path | None) -> FitStore:
    """The process-wide store of ``method``'s fits in ``directory`` (shared by every filter instance)."""
    with _stores_lock:
        return _stores.setdefault((method, directory), FitStore(method, directory))


def piece_key(method: str, engine: FittedEngine, frames: torch.Tensor, mask: torch.Tensor | None = None) -> str:
    """The cache key of a piece: the method, its settings, the frames' float32 pixels and the mask."""
    if mask is not None:  # hashed as one (T, 4, H, W) block, the mask as the fourth channel
        frames = torch.cat([frames, mask.to(frames.dtype)], 1)
    digest = hashlib.sha256(f"{method}\n{engine.key}\n{tuple(frames.shape)}\n".encode())
    digest.update(frames.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def pieces(frames: range, cuts: frozenset[int]) -> list[range]:
    """``frames`` split after every source frame in ``cuts``."""
    found, start = [], frames.start
    for s in frames:
        if s in cuts and s + 1 < frames.stop:
            found.append(range(start, s + 1))
            start = s + 1
    found.append(range(start, frames.stop))
    return found


def renderer(
    method: str,
    engine: FittedEngine,
    lock: threading.Lock,
    request: EngineRequest,
    chunks: Chunks,
    store: FitStore,
    log: Callable[[str], None],
) -> Renderer:
    """A window renderer (``vsinr.serving.scheduling.Renderer``) that fits the window's pieces as needed and
    blends overlapping chunks. With masks (Inpaint's: 1 where pixels are to be filled) the pieces are
    fitted with them, and the outputs keep the source's pixels wherever the mask is 0."""
    device = torch.device(request.device)

    def fitted_piece(piece: range, images: torch.Tensor, holes: torch.Tensor | None) -> Fitted:
        key = piece_key(method, engine, images, holes)
        found = store.get(key, log)
        if found is not None:
            return found
        with _fitting(key), store.exclusive(key):
            found = store.get(key, log)  # fitted by another request (or process) while this one waited
            if found is None:
                label = f"{method}: fitting frames {piece.start}-{piece.stop - 1}"
                log(f"{label} ({len(piece)} frames, {images.shape[-1]}x{images.shape[-2]})")
                checkpoint = store.checkpoint(key)
                found = engine.fit(images, int(key[:8], 16), lambda text: log(f"{label}: {text}"), checkpoint,
                                   mask=holes)
                store.put(key, found, log)
                if checkpoint is not None:
                    checkpoint.unlink(missing_ok=True)
        return found

    def render(frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor], *,
               first: int = 0, cuts: frozenset[int] = frozenset(), masks: Sequence[torch.Tensor] | None = None) -> None:
        taus = [first + t for t in times]
        weighted: list[list[tuple[range, float]]] = []  # per output: (piece, weight)
        for tau in taus:
            held = min(int(tau), chunks.timemap.num_source - 1)
            weighted.append([
                (next(p for p in pieces(chunks.chunk(c), cuts) if held in p), weight) for c, weight in chunks.weights(tau)
            ])
        with torch.inference_mode(False):  # fitting needs autograd even inside an inference caller
            blended: dict[int, torch.Tensor] = {}
            for piece in sorted({p for parts in weighted for p, _ in parts}, key=lambda p: p.start):
                images = torch.stack([frames[s - first] for s in piece]).to(device=device, dtype=torch.float32)
                holes = None if masks is None else torch.stack([masks[s - first] for s in piece]).to(device)
                fitted = fitted_piece(piece, images, holes)
                wanted = [(i, w) for i, parts in enumerate(weighted) for p, w in parts if p == piece]
                targets = [torch.empty(out[i].shape, device=device) for i, _ in wanted]
                with lock:  # rendering shares the engine's built networks; fitting needs no lock
                    engine.render(fitted, images, [taus[i] - piece.start for i, _ in wanted], targets)
                for (i, w), target in zip(wanted, targets, strict=True):
                    if i in blended:
                        blended[i] += w * target
                    else:
                        blended[i] = target.mul_(w) if w != 1 else target
            for i, target in blended.items():
                if masks is not None:  # Inpaint: only the masked pixels change, the others stay exact
                    index = round(taus[i]) - first
                    source = frames[index].to(device)
                    target = torch.where(masks[index].to(device) != 0, target, source.to(target.dtype))
                out[i].copy_(target)

    return render
