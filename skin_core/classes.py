"""The seven HAM10000 diagnoses, in the order every model output uses."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Diagnosis:
    code: str
    name_en: str
    name_vi: str
    malignant: bool

    def name(self, language: str = "en") -> str:
        return self.name_vi if language == "vi" else self.name_en


DIAGNOSES = (
    Diagnosis("akiec", "Actinic keratosis / Bowen's disease (intraepithelial carcinoma)",
              "Dày sừng quang hóa / bệnh Bowen (ung thư biểu mô tại chỗ)", True),
    Diagnosis("bcc", "Basal cell carcinoma", "Ung thư biểu mô tế bào đáy", True),
    Diagnosis("bkl", "Benign keratosis-like lesion", "Tổn thương dạng dày sừng lành tính", False),
    Diagnosis("df", "Dermatofibroma", "U xơ da", False),
    Diagnosis("mel", "Melanoma", "U hắc tố ác tính (melanoma)", True),
    Diagnosis("nv", "Melanocytic nevus", "Nốt ruồi sắc tố (nơ-vi hắc tố)", False),
    Diagnosis("vasc", "Vascular lesion", "Tổn thương mạch máu", False),
)
CLASS_CODES = tuple(d.code for d in DIAGNOSES)
MALIGNANT_CODES = tuple(d.code for d in DIAGNOSES if d.malignant)
MALIGNANT_INDICES = tuple(CLASS_CODES.index(c) for c in MALIGNANT_CODES)
BY_CODE = {d.code: d for d in DIAGNOSES}


def malignant_scores(probabilities: np.ndarray) -> np.ndarray:
    """P(melanoma) + P(basal cell carcinoma) + P(actinic keratosis / Bowen's), summed in float64 wherever it is
    taken (threshold choice, reports, a single prediction), so that a photo whose score is the threshold
    itself is flagged the same way in each."""
    return np.asarray(probabilities, dtype=np.float64)[:, list(MALIGNANT_INDICES)].sum(axis=1)
