"""The input gate: before any diagnosis, is the photo a usable dermoscopic image of a skin lesion?

The classifier knows 7 dermoscopic diagnoses and answers something for any picture. The gate answers first,
per photo, with a reason code:

- ``ok``;
- ``poor_quality``, with its problem: no lesion visible (no structure at all: a plain colour, a covered lens,
  or nothing darker than the skin), too dark, too bright, blurred, or the lesion too small in the frame. The
  limits come from the dermoscopic training photos (0.1 and 99.9 percentiles of sharpness, brightness,
  contrast and the lesion's share of the photo, at the model's input size), widened where photos from other
  cameras need it, and are measured on the skin a dermatoscope shows (the inscribed ellipse), so a ruler, ink
  or a watermark along the edges does not count. A blurred or badly exposed photo also drifts away from the
  training photos, so below an even chance of "not dermoscopic" the quality problem is named first: retaking
  the photo is what the doctor needs to hear;
- ``not_dermoscopic``: a logistic regression on the model's own pooled backbone features (computed in the
  same forward pass as the diagnosis, so the gate costs almost nothing) separates dermoscopic photos (the
  HAM10000 training split and other cameras' training photos) from labelled photos that are not (clinical
  photos of skin, non-skin photos, other medical images).

This module scores; ``skin_core.research.gate_fitting`` fits a gate, chooses its threshold and limits, and releases it
with a new version of its bundle.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skin_core.framing import darker_component, inscribed_ellipse

OK, NOT_DERMOSCOPIC, POOR_QUALITY = "ok", "not_dermoscopic", "poor_quality"
NO_LESION_VISIBLE, BLURRED, TOO_DARK, TOO_BRIGHT, LESION_TOO_SMALL = (
    "no_lesion_visible", "blurred", "too_dark", "too_bright", "lesion_too_small")
QUALITY_PROBLEMS = (NO_LESION_VISIBLE, TOO_DARK, TOO_BRIGHT, BLURRED, LESION_TOO_SMALL)
GATE_FILE = "gate.npz"
SKIN_REGION_SCALE = 0.85  # of the inscribed ellipse: a margin for scale bars and text along the edges


@dataclass(frozen=True)
class GateDecision:
    reason: str  # OK, NOT_DERMOSCOPIC or POOR_QUALITY
    problem: str | None  # for POOR_QUALITY: one of QUALITY_PROBLEMS
    score: float  # probability that the photo is not a dermoscopic lesion image

    @property
    def flagged(self) -> bool:
        return self.reason != OK


def quality_measures(images: np.ndarray, skin_region: bool = False) -> np.ndarray:
    """(N, 4): sharpness (variance of the Laplacian of the grey image), brightness (mean grey level), the
    lesion's share of the photo (``lesion_share``) and contrast (standard deviation of the grey level), for
    uint8 RGB images at the model's input size. With ``skin_region`` they are measured on the skin a
    dermatoscope shows, inside the inscribed ellipse (the lesion's share) and a margin within it (the others):
    a ruler or a watermark along the edges, ink in a corner and the dark vignette of a round lens then do not
    count."""
    rows = []
    for image in images:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        laplacian = cv2.Laplacian(grey, cv2.CV_32F)
        mask = inscribed_ellipse(grey.shape, SKIN_REGION_SCALE).view(np.uint8) if skin_region else None
        (brightness,), (contrast,) = (values[:, 0] for values in cv2.meanStdDev(grey, mask=mask))
        sharpness = cv2.meanStdDev(laplacian, mask=mask)[1][0, 0] ** 2
        rows.append((sharpness, brightness, lesion_share(grey, central=skin_region), contrast))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def lesion_share(grey: np.ndarray, central: bool = False) -> float:
    """Share of the photo covered by the lesion: the part darker than the skin around it (Otsu's threshold
    on the smoothed grey image) that lies nearest the centre, where a dermoscopic photo puts the lesion, larger
    parts preferred (with ``central``, looked for inside the inscribed ellipse only). Against the HAM10000
    lesion masks (the 1505 validation photos of the MobileNetV2 split) its share has a Spearman correlation of
    0.79 with the mask's: 0.92 for naevi and 0.83 for melanomas, but 0.2-0.6 for pale lesions (akiec, bcc,
    bkl), so it is a coarse check: it flags a photo in which no lesion stands out, or one taken from so far
    that the lesion is a speck."""
    found = darker_component(grey, central=central)
    return found[4] / grey.size if found else 0.0


@dataclass(frozen=True)
class GateSettings:
    """The gate's operating point, kept in the bundle's config.json (its weights are in gate.npz)."""

    threshold: float  # flag as not dermoscopic when the score reaches it
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    min_lesion_share: float | None = None  # None: a gate fitted before the lesion's size was checked
    min_contrast: float | None = None  # None: a gate fitted before structureless photos were recognised
    skin_region: bool = False  # quality measured inside the inscribed ellipse (False: over the whole photo)


@dataclass(frozen=True)
class InputGate:
    """The fitted gate: feature standardisation and logistic weights, with its settings."""

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef: np.ndarray
    intercept: float
    settings: GateSettings

    def scores(self, features: np.ndarray) -> np.ndarray:
        logits = ((np.asarray(features, np.float64) - self.feature_mean) / self.feature_scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-(logits + self.intercept)))

    def problems(self, images: np.ndarray) -> list[str | None]:
        """The first quality problem of each photo (None: none), in the order a doctor should fix them: a photo
        that shows no structure at all (a plain colour, a covered lens) has no lesion to judge, whatever else;
        a dark or over-exposed photo also loses its fine detail, so exposure is named before blur."""
        limits = self.settings
        return [(NO_LESION_VISIBLE if limits.min_contrast is not None and (contrast < limits.min_contrast
                                                                           or share == 0.0)
                 else TOO_DARK if brightness < limits.min_brightness
                 else TOO_BRIGHT if brightness > limits.max_brightness
                 else BLURRED if sharpness < limits.min_sharpness
                 else LESION_TOO_SMALL if limits.min_lesion_share is not None and share < limits.min_lesion_share
                 else None)
                for sharpness, brightness, share, contrast in quality_measures(images, limits.skin_region)]

    def decide(self, features: np.ndarray, images: np.ndarray) -> list[GateDecision]:
        """One decision per photo from its pooled features and its resized uint8 image."""
        threshold, decisions = self.settings.threshold, []
        for score, problem in zip(self.scores(features), self.problems(images)):
            score = float(score)
            if problem == NO_LESION_VISIBLE or (problem is not None and score < max(threshold, 0.5)):
                decisions.append(GateDecision(POOR_QUALITY, problem, score))
            elif score >= threshold:
                decisions.append(GateDecision(NOT_DERMOSCOPIC, None, score))
            else:
                decisions.append(GateDecision(OK, None, score))
        return decisions

    def save(self, folder: Path) -> None:
        np.savez(Path(folder) / GATE_FILE, feature_mean=self.feature_mean, feature_scale=self.feature_scale,
                 coef=self.coef, intercept=np.float64(self.intercept))

    @classmethod
    def load(cls, folder: Path, settings: GateSettings, dimension: int) -> "InputGate":
        """Read gate.npz; ValueError when it is absent, damaged or does not fit the model's features."""
        try:
            with np.load(Path(folder) / GATE_FILE) as stored:
                arrays = {name: stored[name] for name in ("feature_mean", "feature_scale", "coef", "intercept")}
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"cannot be read ({error})") from None
        if not all(arrays[name].shape == (dimension,) for name in ("feature_mean", "feature_scale", "coef")):
            raise ValueError(f"holds weights for {arrays['coef'].shape} features; the model gives {dimension}")
        return cls(arrays["feature_mean"], arrays["feature_scale"], arrays["coef"], float(arrays["intercept"]),
                   settings)


def summarise(decisions) -> dict:
    """How many photos the gate flags: the share, and the count per reason and per quality problem."""
    reasons = [d.reason for d in decisions]
    n = len(reasons)
    return {"n": n, "flagged": round(sum(r != OK for r in reasons) / n, 4) if n else None,
            **{reason: sum(r == reason for r in reasons) for reason in (OK, NOT_DERMOSCOPIC, POOR_QUALITY)},
            **{problem: sum(d.problem == problem for d in decisions) for problem in QUALITY_PROBLEMS}}
