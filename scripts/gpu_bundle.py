"""Pack the training material for a machine that can download nothing (a lent GPU) into one folder
small enough to travel with the working tree: clips decoded to ``.npz`` (read by ``VideoFolder``
without PyAV), photos at most 1600 pixels a side as JPEG quality 92 without chroma subsampling.

    python scripts/training_data.py DATA
    python scripts/gpu_bundle.py DATA gpu_data      # about 30 MB; gpu_data/ is ignored by git
    # then, on the GPU machine, from the repository root: sh scripts/gpu_session.sh gpu_data OUT

The photos are smaller and lossy here, so a run on the bundle trains on nearly, not exactly, the
material of a run on DATA (validation is measured on the bundle in both the run and its export check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsinr.io.clips import decode_folder  # noqa: E402
from vsinr.io.files import atomic_path  # noqa: E402
from vsinr.training.data import PHOTO_SUFFIXES  # noqa: E402

MAX_SIDE = 1600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the folder scripts/training_data.py wrote (videos/, photos/)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    from PIL import Image

    clips = decode_folder(args.data / "videos", args.out / "videos")
    photos = sorted(p for p in (args.data / "photos").rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    (args.out / "photos").mkdir(parents=True, exist_ok=True)
    for path in photos:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            with atomic_path(args.out / "photos" / f"{path.stem}.jpg") as temp:
                image.save(temp, "JPEG", quality=92, subsampling=0)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {len(clips)} clips, {len(photos)} photos, {size / 2**20:.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
