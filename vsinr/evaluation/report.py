"""Benchmark results as JSON, Markdown tables and a rate–distortion plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vsinr.io.files import atomic_path

_COLUMNS = [
    ("psnr_y", "PSNR-Y", "{:.2f}"),
    ("psnr_y_interp", "PSNR-Y interp", "{:.2f}"),
    ("psnr_y_aligned", "PSNR-Y aligned", "{:.2f}"),
    ("psnr_y_holes", "PSNR-Y holes", "{:.2f}"),
    ("ssim_y_holes", "SSIM-Y holes", "{:.4f}"),
    ("ssim_y", "SSIM-Y", "{:.4f}"),
    ("psnr_rgb", "PSNR-RGB", "{:.2f}"),
    ("ssim_rgb", "SSIM-RGB", "{:.4f}"),
    ("fps", "fps", "{:.1f}"),
    ("first_s", "first frame s", "{:.1f}"),
    ("peak_mb", "peak MiB", "{:.0f}"),
    ("gpu_peak_mb", "GPU peak MiB", "{:.0f}"),
]


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def markdown(results: dict[str, Any], header: str) -> str:
    """Tables of averages per task, then PSNR-Y per clip."""
    lines = [header, ""]
    for label, result in results.items():
        if label == "codec":
            lines += _codec_markdown(result)
            continue
        average = result["average"]
        columns = [c for c in _COLUMNS if any(c[0] in row for row in average.values())]
        lines += [f"## {label}", "", "Average over clips:", ""]
        lines.append("| method | " + " | ".join(c[1] for c in columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for name, row in average.items():
            lines.append(f"| {name} | " + " | ".join(_cell(row.get(c[0]), c[2]) for c in columns) + " |")
        clips = list(result["clips"])
        lines += ["", "PSNR-Y per clip:", "", "| method | " + " | ".join(clips) + " |", "|---|" + "---:|" * len(clips)]
        for name in result["runners"]:
            lines.append(f"| {name} | " + " | ".join(_cell(result["clips"][c][name]["psnr_y"], "{:.2f}") for c in clips) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _codec_markdown(result: dict[str, Any]) -> list[str]:
    lines = ["## codec", "", "| clip | codec | CRF | bpp | PSNR-Y | SSIM-Y | encode fps |", "|---|---|---:|---:|---:|---:|---:|"]
    for clip, codecs in result["curves"].items():
        for codec, points in codecs.items():
            for p in points:
                lines.append(f"| {clip} | {codec} | {p['crf']} | {p['bpp']:.4f} | {p['psnr_y']:.2f} | {p['ssim_y']:.4f} | {p['fps']:.1f} |")
    lines += ["", "BD-rate of x265 against x264 (PSNR-Y):", ""]
    lines += [f"- {clip}: {value:+.1f}%" for clip, value in result["bd_rate_x265_vs_x264"].items()]
    for clip, values in result.get("bd_rate", {}).items():
        lines += ["", f"BD-rate of the neural codecs on {clip} (PSNR-Y; n/a: fewer than 2 sizes or no overlap in PSNR):", ""]
        lines += [f"- {pair}: {'n/a' if v is None else f'{v:+.1f}%'}" for pair, v in values.items()]
    return lines + [""]


def plot_codec(result: dict[str, Any], target: Path) -> None:
    """Rate–distortion curves (PSNR-Y against bpp), one panel per clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = result["curves"]
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.6), squeeze=False)
    for ax, (clip, codecs) in zip(axes[0], curves.items(), strict=True):
        for codec, points in codecs.items():
            ax.plot([p["bpp"] for p in points], [p["psnr_y"] for p in points], "o-", label=codec)
        ax.set(title=clip, xlabel="bits per pixel", ylabel="PSNR-Y (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(target) as temp:
        fig.savefig(temp, format="png", dpi=100)
    plt.close(fig)


def write_json(results: dict[str, Any], meta: dict[str, Any], target: Path) -> None:
    with atomic_path(target) as temp:
        temp.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str) + "\n")


def write_text(text: str, target: Path) -> None:
    with atomic_path(target) as temp:
        temp.write_text(text)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A Markdown table of how the averages moved between two ``vsinr bench --json`` files."""
    keys = [("psnr_y", "PSNR-Y", "{:+.2f}"), ("ssim_y", "SSIM-Y", "{:+.4f}"), ("fps", "fps", "{:+.1f}")]
    lines = [
        f"Changes from {old['meta'].get('commit') or '?'} to {new['meta'].get('commit') or '?'} (new − old):",
        "",
        "| task | method | " + " | ".join(k[1] for k in keys) + " |",
        "|---|---|" + "---:|" * len(keys),
    ]
    for label, result in new["results"].items():
        before = old["results"].get(label)
        if label == "codec" or before is None:
            continue
        for name, row in result["average"].items():
            prev = before["average"].get(name)
            cells = ["new" if prev is None else _cell(row.get(k) - prev.get(k, math.nan), f) for k, _, f in keys]
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
