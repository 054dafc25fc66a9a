"""A de-identified export of confirmed cases for research: a labelled folder in the HAM10000 format.

The archive unpacks into ``labels.csv`` (image_id, lesion_id, dx, dx_type, age, sex, localization, visit_date
and the model's answer), ``images/<image_id>.jpg`` and ``README.txt``; ``python -m skin_core evaluate --data
<folder>`` reads it as it is. What would identify a patient is left out or replaced, per export:

- the patient code becomes a pseudonym drawn afresh for every export (two exports cannot be joined on it);
- every date of a patient moves earlier by the same random number of days (1 to ``MAX_DATE_SHIFT_DAYS``), so
  the intervals between a patient's visits stay true while the calendar dates do not, and no date falls after
  the export;
- ages from ``OLDEST_AGE_SHOWN`` up are written as that age (few patients are that old);
- free text (lesion label, note), names of users, clinic and clinician, file names and photo hashes are not
  exported; photos are re-encoded from their pixels, so camera metadata (date, place, device) is dropped.

Only cases confirmed as one of the seven classes and with a stored photo can be evaluated; the README says how
many others were left out and why.
"""

import datetime
import io
import secrets
import zipfile
from collections import defaultdict

import pandas as pd
from PIL import Image

from skin_core import imaging
from skin_core.classes import CLASS_CODES

MAX_DATE_SHIFT_DAYS = 180
OLDEST_AGE_SHOWN = 90
# How a diagnosis was confirmed, in HAM10000's dx_type words.
DX_TYPES = {"histopathology": "histo", "specialist": "consensus", "follow_up": "follow_up"}


def research_archive(cases, random: secrets.SystemRandom | None = None) -> tuple[bytes, dict]:
    """The ZIP of ``cases`` (confirmed case records with their stored photo, ``CaseRecord``) and what it holds:
    {"exported", "no_photo", "outside_classes", "patients"}."""
    random = random or secrets.SystemRandom()
    usable = [c for c in cases if c.final_diagnosis in CLASS_CODES and c.photo is not None]
    patients = sorted({c.patient_code for c in usable})
    random.shuffle(patients)  # pseudonym order says nothing about the clinic's order of patients
    pseudonym = {code: f"P{index + 1:04d}" for index, code in enumerate(patients)}
    # every date moves, and only earlier: a date after the export would show which way it had moved
    shift = {code: datetime.timedelta(days=-random.randint(1, MAX_DATE_SHIFT_DAYS)) for code in patients}
    lesions = defaultdict(dict)  # patient -> lesion label -> lesion pseudonym
    rows, buffer = [], io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for case in sorted(usable, key=lambda c: (pseudonym[c.patient_code], c.visit_date, random.random())):
            patient = pseudonym[case.patient_code]
            known = lesions[patient]
            lesion = known.setdefault(case.lesion_label.strip().casefold() or f"case {case.id}",
                                      f"{patient}-L{len(known) + 1}")
            image_id = f"{patient}-{secrets.token_hex(4)}"
            archive.writestr(f"images/{image_id}.jpg", _pixels_only(case.photo))
            rows.append({"image_id": image_id, "lesion_id": lesion, "dx": case.final_diagnosis,
                         "dx_type": DX_TYPES[case.final_source],
                         "age": None if case.age is None else min(case.age, OLDEST_AGE_SHOWN),
                         "sex": case.sex, "localization": case.site,
                         "visit_date": (case.visit_date + shift[case.patient_code]).isoformat(),
                         "model": case.model_name, "model_version": case.model_version,
                         **{f"p_{code}": round(case.probabilities[code], 6) for code in CLASS_CODES}})
        summary = {"exported": len(rows), "patients": len(patients),
                   "no_photo": sum(c.final_diagnosis in CLASS_CODES and c.photo is None for c in cases),
                   "outside_classes": sum(c.final_diagnosis not in CLASS_CODES for c in cases)}
        columns = ["image_id", "lesion_id", "dx", "dx_type", "age", "sex", "localization", "visit_date", "model",
                   "model_version", *(f"p_{code}" for code in CLASS_CODES)]
        archive.writestr("labels.csv", pd.DataFrame(rows, columns=columns).to_csv(index=False))
        archive.writestr("README.txt", _readme(summary))
    return buffer.getvalue(), summary


def _pixels_only(photo: bytes) -> bytes:
    """The photo as a new JPEG made from its pixels alone: no EXIF, no comment, no embedded thumbnail."""
    pixels = imaging.load_rgb(photo)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="JPEG", quality=95)
    return encoded.getvalue()


def _readme(summary: dict) -> str:
    return (f"De-identified confirmed cases for research, exported {datetime.date.today().isoformat()} (that date is "
            f"not shifted).\n\n"
            f"{summary['exported']} photos of {summary['patients']} patients, in the HAM10000 format: labels.csv "
            f"and images/. Check a model on them with\n\n"
            f"    python -m skin_core evaluate --model <bundle> --data <this folder>\n\n"
            f"Patient codes are replaced by pseudonyms drawn for this export only; each patient's dates are moved by "
            f"one random number of days (1 to {MAX_DATE_SHIFT_DAYS}, always earlier), so the intervals between a "
            f"patient's visits are true and the dates are not; ages of {OLDEST_AGE_SHOWN} or more read "
            f"{OLDEST_AGE_SHOWN}; lesion labels, notes, names and file names are left out and photos carry no "
            f"camera metadata. dx_type: histo (histopathology), consensus (a specialist), follow_up. The model "
            f"columns are the answer the model gave when the case was saved.\n\n"
            f"Left out: {summary['no_photo']} confirmed case(s) whose photo the clinic did not keep, and "
            f"{summary['outside_classes']} confirmed as a diagnosis outside the seven classes.\n")
