"""skin_core: Soft-Attention skin-lesion classifiers for clinical decision support (no UI code here)."""

from skin_core.classes import CLASS_CODES, DIAGNOSES, MALIGNANT_CODES
from skin_core.imaging import InvalidImageError
from skin_core.metadata import InvalidMetadataError


def load_predictor(bundle=None):
    """Load a bundle's Predictor (imported lazily so that `import skin_core` does not start Keras)."""
    from skin_core.predictor import load_predictor as load

    return load(bundle)


__all__ = ["CLASS_CODES", "DIAGNOSES", "MALIGNANT_CODES", "InvalidImageError", "InvalidMetadataError",
           "load_predictor"]
