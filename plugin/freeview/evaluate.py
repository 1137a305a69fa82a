"""Image-quality evaluation of the renderers against ground truth: PSNR, SSIM and a table of both.

The ground truth comes from outside (the sim venue, via ``fvreplay eval``); this module only scores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from plugin.freeview.camera import CameraModel
from plugin.freeview.render import BaseRenderer, OracleRenderer
from plugin.freeview.render.common import to_uint8


def psnr(image: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical); with ``where`` ((H, W)
    bool), over those pixels only (NaN when there are none)."""
    diff = image.astype(np.float64) - truth.astype(np.float64)
    if where is not None:
        if not where.any():
            return float("nan")
        diff = diff[where]
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def ssim(image: np.ndarray, truth: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004: 11x11 Gaussian, sigma 1.5), averaged over RGB."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for ch in range(image.shape[2]):
        x = image[..., ch].astype(np.float64)
        y = truth[..., ch].astype(np.float64)

        def blur(a: np.ndarray) -> np.ndarray:
            return np.asarray(cv2.GaussianBlur(a, (11, 11), 1.5))

        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        scores.append(float(s[5:-5, 5:-5].mean()))
    return float(np.mean(scores))


@dataclass
class Case:
    """One view to score: the camera to draw, its position on the rig, its truth, and the rig to draw from."""

    name: str
    kind: str  # "held-out" (a real camera left out of the sources) or "virtual" (between cameras)
    target: CameraModel
    s: float
    truth: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 z_cam, inf for sky
    renderers: Mapping[str, BaseRenderer]
    pivot: np.ndarray
    #: Parts of the picture also scored on their own, by name ((H, W) bool each: the sim's players, say):
    #: the whole picture's PSNR is mostly pitch and stands, a viewer watches the players.
    regions: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Report:
    """Scores per case and mode, and their means per kind of case."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, case: Case, mode: str, image: np.ndarray, seconds: float) -> None:
        self.rows.append(
            {
                "view": case.name,
                "kind": case.kind,
                "s": round(case.s, 4),
                "mode": mode,
                "psnr": round(psnr(image, case.truth), 3),
                "ssim": round(ssim(image, case.truth), 4),
                "seconds": round(seconds, 4),
                **{f"psnr_{name}": round(psnr(image, case.truth, where), 3) for name, where in case.regions.items()},
            }
        )

    def _keys(self) -> list[str]:
        """What is averaged: psnr, ssim, seconds and each region's PSNR that every row has."""
        regions = [key for key in self.rows[0] if key.startswith("psnr_")] if self.rows else []
        return ["psnr", "ssim", "seconds", *(key for key in regions if all(key in r for r in self.rows))]

    def means(self) -> dict[str, dict[str, dict[str, float]]]:
        """kind -> mode -> {psnr, ssim, seconds, psnr_<region> ...}: the averages (a region's over the views
        that show it)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        keys = self._keys()
        for kind in ("held-out", "virtual", "all"):
            rows = [r for r in self.rows if kind in ("all", r["kind"])]
            for mode in dict.fromkeys(r["mode"] for r in rows):
                sel = [r for r in rows if r["mode"] == mode]
                out.setdefault(kind, {})[mode] = {key: _mean([r[key] for r in sel]) for key in keys}
        return out

    def table(self) -> str:
        """Plain-text table: one line per view, then the means per kind of view; then each region's PSNR."""
        lines = self._table(lambda r: f"{r['psnr']:>7.2f} / {r['ssim']:.3f}", "PSNR dB / SSIM")
        for key in self._keys()[3:]:
            lines += ["", f"{key.removeprefix('psnr_')} only:"]
            lines += self._table(functools.partial(_region_cell, key), "PSNR dB")
        return "\n".join(lines)

    def _table(self, cell: Callable[[dict[str, Any]], str], unit: str) -> list[str]:
        modes = list(dict.fromkeys(r["mode"] for r in self.rows))
        head = f"{'view':<16} {'kind':<9} {'s':>6}  " + "  ".join(f"{m:>15}" for m in modes)
        lines = [head, f"{'':<16} {'':<9} {'':>6}  " + "  ".join(f"{unit:>15}" for _ in modes)]
        for view in dict.fromkeys(r["view"] for r in self.rows):
            sel = {r["mode"]: r for r in self.rows if r["view"] == view}
            first = next(iter(sel.values()))
            cells = "  ".join(cell(sel[m]) if m in sel else " " * 15 for m in modes)
            lines.append(f"{view:<16} {first['kind']:<9} {first['s']:>6.2f}  {cells}")
        for kind, per_mode in self.means().items():
            cells = "  ".join(cell(per_mode[m]) if m in per_mode else " " * 15 for m in modes)
            lines.append(f"{'mean ' + kind:<16} {'':<9} {'':>6}  {cells}")
        return lines


def _mean(values: list[float]) -> float:
    """The mean of ``values`` that are numbers (NaN: a region a view does not show), to 4 places; NaN if none."""
    shown = [v for v in values if not np.isnan(v)]
    return round(float(np.mean(shown)), 4) if shown else float("nan")


def _region_cell(key: str, row: dict[str, Any]) -> str:
    return f"{row[key]:>15.2f}"


def score(
    cases: Sequence[Case],
    images_for: Callable[[Case], Mapping[str, np.ndarray]],
    *,
    clock: Callable[[], float],
) -> Report:
    """Render every case with each of its renderers (the oracle gets the case's true depth) and score it."""
    report = Report()
    for case in cases:
        images = images_for(case)
        for mode, renderer in case.renderers.items():
            start = clock()
            with torch.inference_mode():
                if isinstance(renderer, OracleRenderer):
                    out = renderer.render_with_depth(case.target, case.s, images, case.depth)
                else:
                    out = renderer.render_camera(case.target, case.s, case.pivot, images)
                image = to_uint8(out)
            report.add(case, mode, image, clock() - start)
    return report
