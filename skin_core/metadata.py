"""Patient metadata (age, sex, anatomical site) and its encoding as one model input.

Unknown is a value, never an error: an empty field, ``None``, NaN or the word "unknown" all mean the doctor
did not say. Values that cannot be right (age below 0 or above 120, a site outside the HAM10000 vocabulary,
a sex other than male / female) are rejected with :class:`InvalidMetadataError` rather than silently guessed,
so a typo in a clinic's CSV or form is seen instead of quietly changing the prediction.

The encoded vector is ``[age_z, age_missing] + one_hot(sex) + one_hot(site)``; age is standardised with the
training split's mean and standard deviation, which every model bundle stores.
"""

import math
import numbers
import re
from dataclasses import dataclass

import numpy as np

UNKNOWN = "unknown"
SEXES = ("male", "female", UNKNOWN)
SITES = (
    "abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand",
    "lower extremity", "neck", "scalp", "trunk", "upper extremity", UNKNOWN,
)
AGE_RANGE = (0.0, 120.0)
AGE_FIELD = slice(0, 2)
SEX_FIELD = slice(2, 2 + len(SEXES))
SITE_FIELD = slice(SEX_FIELD.stop, SEX_FIELD.stop + len(SITES))
FIELDS = (AGE_FIELD, SEX_FIELD, SITE_FIELD)
METADATA_DIM = SITE_FIELD.stop


_PLAIN_NUMBER = re.compile(r"[0-9]+([.,][0-9]+)?")  # ASCII digits, one decimal point or comma


class InvalidMetadataError(ValueError):
    """A metadata value that is neither valid nor empty (shown to the user as is)."""


def shown(value, limit: int = 40) -> str:
    """The value as a message may quote it: its repr, cut short so that a huge input is not echoed back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _is_empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", UNKNOWN, "nan", "none")


def clean_age(value) -> float | None:
    """Return the age in years, ``None`` when unknown; raise on impossible ages."""
    if _is_empty(value):
        return None
    if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value.strip()):
        age = float(value.strip().replace(",", "."))
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        age = float(value)
    else:
        raise InvalidMetadataError(f"Age must be a number of years, got {shown(value)}.")
    if math.isnan(age):
        return None
    if not AGE_RANGE[0] <= age <= AGE_RANGE[1]:
        raise InvalidMetadataError(
            f"Age {age:g} is outside {AGE_RANGE[0]:g}–{AGE_RANGE[1]:g} years; leave it empty if unknown.")
    return age


def _clean_choice(value, vocabulary: tuple[str, ...], what: str) -> str:
    if _is_empty(value):
        return UNKNOWN
    word = str(value).strip().lower().replace("_", " ")
    if word not in vocabulary:
        raise InvalidMetadataError(f"Unknown {what} {shown(value)}; expected one of: {', '.join(vocabulary)}.")
    return word


def clean_sex(value) -> str:
    return _clean_choice(value, SEXES, "sex")


def clean_site(value) -> str:
    return _clean_choice(value, SITES, "anatomical site")


def unknown_vector() -> np.ndarray:
    """The encoding of a patient about whom nothing is known."""
    return MetadataEncoder(0.0, 1.0).encode(None, None, None)


@dataclass(frozen=True)
class MetadataEncoder:
    """Encodes (age, sex, site) with the age statistics of the training split."""

    age_mean: float
    age_std: float

    @classmethod
    def fit(cls, ages) -> "MetadataEncoder":
        known = np.array([a for a in map(clean_age, ages) if a is not None], dtype=np.float64)
        if known.size == 0:
            return cls(0.0, 1.0)
        return cls(float(known.mean()), float(known.std()) or 1.0)

    def encode(self, age=None, sex=None, site=None) -> np.ndarray:
        vector = np.zeros(METADATA_DIM, dtype=np.float32)
        age = clean_age(age)
        if age is None:
            vector[AGE_FIELD.start + 1] = 1.0
        else:
            vector[AGE_FIELD.start] = (age - self.age_mean) / self.age_std
        vector[SEX_FIELD.start + SEXES.index(clean_sex(sex))] = 1.0
        vector[SITE_FIELD.start + SITES.index(clean_site(site))] = 1.0
        return vector

    def recoded(self, metadata: np.ndarray, source: "MetadataEncoder") -> np.ndarray:
        """Rows that ``source`` encoded, on this encoder's age scale (sex, site and an unknown age are the same in
        every encoding): how an ensemble hands one patient's details to members trained on different ages."""
        rows = np.array(metadata, dtype=np.float32, copy=True)
        known = rows[:, AGE_FIELD.start + 1] == 0
        ages = rows[known, AGE_FIELD.start] * source.age_std + source.age_mean
        rows[known, AGE_FIELD.start] = (ages - self.age_mean) / self.age_std
        return rows

    def encode_frame(self, frame) -> np.ndarray:
        """Encode a DataFrame's ``age``, ``sex``, ``localization`` columns (absent columns = unknown)."""
        column = lambda name: frame[name].tolist() if name in frame else [None] * len(frame)  # noqa: E731
        rows = zip(column("age"), column("sex"), column("localization"))
        return np.stack([self.encode(*row) for row in rows]) if len(frame) else np.zeros((0, METADATA_DIM),
                                                                                        np.float32)
