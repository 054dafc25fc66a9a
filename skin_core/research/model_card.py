"""The model card text that travels inside every bundle trained on HAM10000 (intended use, data, limits,
citations), in the languages the app speaks. Figures (split sizes, metrics) are not text: they are read
from the bundle's config and metrics wherever the card is shown."""

from pathlib import Path

from skin_core.bundle import ModelCard

INTENDED_USE = {
    "en": "Second opinion for clinicians reading dermoscopic photos of pigmented skin lesions; it ranks the 7 "
          "HAM10000 diagnoses. Not for use by patients, not for clinical photos without a dermatoscope, and never "
          "a replacement for histopathology.",
    "vi": "Ý kiến thứ hai cho bác sĩ khi đọc ảnh soi da của tổn thương sắc tố; xếp hạng 7 chẩn đoán của HAM10000. "
          "Không dành cho bệnh nhân tự dùng, không dùng cho ảnh chụp thường không qua kính soi da, và không thay "
          "thế giải phẫu bệnh.",
}
HAM10000_DATA = {
    "en": "HAM10000 (Tschandl, Rosendahl, Kittler, Sci. Data 5:180161, 2018), CC BY-NC 4.0",
    "vi": "HAM10000 (Tschandl, Rosendahl, Kittler, Sci. Data 5:180161, 2018), CC BY-NC 4.0",
}
EXTRA_TRAINING_DATA = {  # folders of ../shared/data/external that may be trained on, by folder name
    "isic2017_train": {
        "en": "ISIC 2017 Challenge training photos, melanoma / seborrhoeic keratosis / naevus (Codella et al., "
              "arXiv:1710.05006), CC0 or CC BY-NC",
        "vi": "Ảnh huấn luyện của ISIC 2017 Challenge, u hắc tố / dày sừng tiết bã / nốt ruồi (Codella và cs., "
              "arXiv:1710.05006), CC0 hoặc CC BY-NC",
    },
}
LIMITS = {
    "en": "Dermoscopic images only. HAM10000 comes from Austrian and Australian clinics: darker skin types and "
          "Asian patients are under-represented, so accuracy for Vietnamese patients is not yet measured. Trained "
          "at the 200×150 resolution of the shared HAM10000 copy. Rare classes (dermatofibroma, vascular lesions) "
          "have few test images, so their figures are uncertain. Only the 7 HAM10000 diagnoses exist for the model.",
    "vi": "Chỉ dành cho ảnh soi da. HAM10000 đến từ các phòng khám ở Áo và Úc: da sẫm màu và bệnh nhân châu Á ít "
          "được đại diện, nên độ chính xác trên bệnh nhân Việt Nam chưa được đo. Huấn luyện ở độ phân giải 200×150 "
          "của bản HAM10000 dùng chung. Các lớp hiếm (u xơ da, tổn thương mạch máu) có ít ảnh kiểm tra nên số liệu "
          "kém chắc chắn. Mô hình chỉ biết 7 chẩn đoán của HAM10000.",
}
CITATIONS = (
    "V. D. Nguyen, N. D. Bui, H. K. Do. Skin Lesion Classification on Imbalanced Data Using Deep Learning with "
    "Soft Attention. Sensors 22(19):7530, 2022.",
    "S. K. Datta, M. A. Shaikh, S. N. Srihari, M. Gao. Soft Attention Improves Skin Cancer Classification "
    "Performance. iMIMIC, MICCAI workshops, 2021 (arXiv:2105.03358).",
    "P. Tschandl, C. Rosendahl, H. Kittler. The HAM10000 dataset, a large collection of multi-source "
    "dermatoscopic images of common pigmented skin lesions. Sci. Data 5:180161, 2018 (CC BY-NC 4.0).",
)


def ham10000_card(extra_train=()) -> ModelCard:
    """The card of a model trained on HAM10000 and, when given, photos from these other folders."""
    data = {}
    for language, ham in HAM10000_DATA.items():
        extra = [EXTRA_TRAINING_DATA.get(Path(folder).name, {}).get(language, Path(folder).name)
                 for folder in extra_train]
        data[language] = "; ".join([ham, *extra])
    return ModelCard(intended_use=dict(INTENDED_USE), data=data, limits=dict(LIMITS), citations=CITATIONS)
