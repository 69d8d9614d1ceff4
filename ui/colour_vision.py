"""Colour-vision deficiency simulation, to test that the app's line colours stay apart for everyone.

Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of color vision
deficiency", IEEE TVCG 15(6): the severity-1.0 matrices for protanopia and deuteranopia, applied in linear
sRGB. Differences are CIE76 ΔE in CIELAB (D65).
"""
from __future__ import annotations

import numpy as np

MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
}
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _linear(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    c = np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    xyz = _SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1) / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen_as(hex_colour: str, vision: str = "normal") -> np.ndarray:
    """CIELAB of the colour as a viewer with this vision sees it."""
    rgb = _linear(hex_colour)
    return _lab(rgb if vision == "normal" else MACHADO[vision] @ rgb)


def difference(a: str, b: str, vision: str = "normal") -> float:
    """CIE76 ΔE between two colours as seen with `vision` (about 2.3 is just noticeable; lines need far more)."""
    return float(np.linalg.norm(seen_as(a, vision) - seen_as(b, vision)))
