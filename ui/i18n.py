"""Every user-visible string of the application and its reports, in English and Vietnamese."""

import datetime
import json
import re
from numbers import Number
from string import Formatter

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent

from skin_core.bundle import BundleError, open_bundle, read_catalogue
from skin_core.classes import BY_CODE
from skin_core.metadata import SEXES, SITES
from skin_core.paths import EXTERNAL_ROLES

LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}

STRINGS = {
    "app_title": ("Skin lesion decision support", "Hỗ trợ chẩn đoán tổn thương da"),
    "language": ("Language", "Ngôn ngữ"),
    "model": ("Model", "Mô hình"),
    "model_help": (
        "The released models. The default is chosen by a written rule on HAM10000's validation photos and on photos "
        "from two other dermatoscopes (ISIC 2017 validation, PH2), within the speed limit; it also learned from ISIC "
        "2017 photos and holds up best on other dermatoscopes. On a dermatoscope unlike these every model loses "
        "accuracy (About the models, 'Photos from other clinics'): before relying on one with your clinic's "
        "dermatoscope, check it on your own photos with a known diagnosis (`python -m skin_core evaluate`, or the "
        "Clinic validation page once final diagnoses are recorded).",
        "Các mô hình đã phát hành. Mô hình mặc định được chọn theo một quy tắc thành văn trên ảnh kiểm định của "
        "HAM10000 và ảnh từ hai kính soi da khác (ISIC 2017 kiểm định, PH2), trong giới hạn tốc độ; mô hình này "
        "cũng học từ ảnh ISIC 2017 và giữ độ chính xác tốt nhất trên kính soi da khác. Với kính soi da khác hẳn các "
        "loại này, mọi mô hình đều giảm độ chính xác (xem trang Về các mô hình, mục 'Ảnh từ phòng khám khác'): "
        "trước khi dựa vào một mô hình với kính soi da của phòng khám, hãy kiểm tra nó trên chính các ảnh đã có "
        "chẩn đoán của phòng khám (`python -m skin_core evaluate`, hoặc trang Kiểm chứng tại phòng khám khi đã ghi "
        "chẩn đoán cuối cùng)."),
    "default_model": ("default", "mặc định"),
    "page_diagnose": ("Diagnose", "Chẩn đoán"),
    "page_compare": ("Compare models", "So sánh mô hình"),
    "page_about": ("About the models", "Về các mô hình"),
    "disclaimer": (
        "Decision support for clinicians, not a diagnosis. The result must be interpreted by a doctor together "
        "with the clinical examination; a biopsy decides.",
        "Công cụ hỗ trợ bác sĩ, không phải chẩn đoán xác định. Bác sĩ phải đánh giá kết quả cùng với khám lâm "
        "sàng; chẩn đoán xác định dựa vào sinh thiết."),
    "no_model": ("No trained model was found in the weights folder. Train one with train.py (see README).",
                 "Không tìm thấy mô hình đã huấn luyện trong thư mục weights. Hãy huấn luyện bằng train.py (xem README)."),
    "broken_model": ("Model {name} is unavailable and is not offered. {reason}",
                     "Mô hình {name} không dùng được nên không được đưa vào danh sách. {reason}"),
    "model_failed": ("The model {name} could not be loaded, so no analysis was made. {reason} "
                     "Choose another model in the sidebar.",
                     "Không thể tải mô hình {name} nên chưa phân tích. {reason} Hãy chọn mô hình khác ở thanh bên."),
    "photo": ("Lesion photo", "Ảnh tổn thương"),
    "upload": ("Upload a dermoscopic photo (JPEG, PNG, BMP, TIFF, WebP, GIF)",
               "Tải lên ảnh soi da (JPEG, PNG, BMP, TIFF, WebP, GIF). Khung tải ảnh bên dưới chỉ có tiếng Anh: "
               "“Upload” = tải lên (hoặc kéo thả tệp vào khung), “50MB per file” = tối đa 50 MB mỗi tệp."),
    "use_camera": ("Use the camera", "Dùng máy ảnh"),
    "camera": ("Take a photo", "Chụp ảnh"),
    "examples": ("Example photos from HAM10000", "Ảnh mẫu từ HAM10000"),
    "examples_credit": ("Example images: HAM10000 (Tschandl et al., 2018), CC BY-NC 4.0.",
                        "Ảnh mẫu: HAM10000 (Tschandl và cs., 2018), CC BY-NC 4.0."),
    "patient": ("Patient", "Bệnh nhân"),
    "age": ("Age (years, optional)", "Tuổi (năm, không bắt buộc)"),
    "sex": ("Sex", "Giới tính"),
    "site": ("Anatomical site", "Vị trí giải phẫu"),
    "analyse": ("Analyse", "Phân tích"),
    "analyse_help": ("Stays on for this patient: a new photo or changed details are analysed at once. "
                     "New patient turns it off.",
                     "Giữ nguyên cho bệnh nhân này: ảnh mới hoặc thông tin thay đổi được phân tích ngay. "
                     "Nút Bệnh nhân mới sẽ tắt."),
    "new_patient": ("New patient", "Bệnh nhân mới"),
    "new_patient_help": ("Clears the photo, the result and the patient's details (clinic and clinician stay).",
                         "Xóa ảnh, kết quả và thông tin bệnh nhân (giữ phòng khám và bác sĩ)."),
    "patient_id": ("Patient identifier (the clinic's own code)", "Mã bệnh nhân (mã của phòng khám)"),
    "clinic": ("Clinic", "Phòng khám"),
    "clinician": ("Clinician", "Bác sĩ"),
    "analysing": ("Analysing the photo…", "Đang phân tích ảnh…"),
    "example_details_kept": (
        "The patient details you entered were kept; the example's own are age {age}, {sex}, {site}.",
        "Thông tin bệnh nhân bạn đã nhập được giữ nguyên; thông tin của ảnh mẫu là {age} tuổi, {sex}, {site}."),
    "prepare_pdf": ("Prepare the PDF report", "Tạo báo cáo PDF"),
    "alert_with_benign_top": (
        "Why the alert although the single most likely diagnosis is benign: the malignant classes together "
        "({probability}) exceed the alert threshold ({threshold}). The alert is what counts for referral.",
        "Vì sao có cảnh báo dù chẩn đoán khả năng cao nhất là lành tính: các nhóm ác tính cộng lại ({probability}) "
        "vượt ngưỡng cảnh báo ({threshold}). Quyết định chuyển khám dựa vào cảnh báo này."),
    "malignant_top_without_alert": (
        "The single most likely diagnosis is malignant, but the malignant classes together ({probability}) stay "
        "below the alert threshold ({threshold}): the model is unsure. Examine the lesion with extra care.",
        "Chẩn đoán khả năng cao nhất là ác tính nhưng các nhóm ác tính cộng lại ({probability}) vẫn dưới ngưỡng "
        "cảnh báo ({threshold}): mô hình không chắc chắn. Cần khám tổn thương thật kỹ."),
    "need_photo": ("Choose a photo first.", "Hãy chọn ảnh trước."),
    "current_photo": ("Photo being analysed: {name}", "Ảnh đang phân tích: {name}"),
    "results": ("Ranked diagnoses", "Các chẩn đoán theo thứ tự"),
    "diagnosis": ("Diagnosis", "Chẩn đoán"),
    "probability": ("Probability", "Xác suất"),
    "code": ("Code", "Mã"),
    "top_sentence": ("Most likely: **{name}** ({probability:.0%}).", "Khả năng cao nhất: **{name}** ({probability:.0%})."),
    "malignant_banner": (
        "Possible malignancy: melanoma, basal cell carcinoma or actinic keratosis / Bowen's disease together "
        "reach {probability} (alert threshold {threshold}). Advice: refer to a dermatologist and consider "
        "a biopsy; do not reassure the patient on this result alone.",
        "Nghi ngờ ác tính: u hắc tố ác tính (melanoma), ung thư biểu mô tế bào đáy hoặc dày sừng quang hóa / bệnh Bowen cộng lại "
        "đạt {probability} (ngưỡng cảnh báo {threshold}). Khuyến nghị: chuyển khám chuyên khoa da liễu và "
        "cân nhắc sinh thiết; không trấn an bệnh nhân chỉ dựa vào kết quả này."),
    "triage_withheld": (
        "No triage advice: the input check flagged this photo, and the alert threshold and its advice (refer, "
        "biopsy, follow-up) hold only for dermoscopic photos of a lesion. Malignant classes together: "
        "{probability} (threshold {threshold}), not applicable here.",
        "Không đưa ra khuyến nghị xử trí: bước kiểm tra ảnh đã cảnh báo ảnh này, và ngưỡng cảnh báo cùng khuyến "
        "nghị (chuyển khám, sinh thiết, theo dõi) chỉ áp dụng cho ảnh soi da của một tổn thương. Tổng xác suất các "
        "nhóm ác tính: {probability} (ngưỡng {threshold}), không áp dụng ở đây."),
    "benign_note": (
        "Malignant classes together: {probability}, below the alert threshold ({threshold}). Advice: "
        "follow-up; re-examine if the lesion changes.",
        "Tổng xác suất các nhóm ác tính: {probability}, dưới ngưỡng cảnh báo ({threshold}). Khuyến nghị: "
        "theo dõi; khám lại nếu tổn thương thay đổi."),
    "low_confidence": (
        "Low confidence: the top diagnosis has {probability:.0%} and leads the next one by {margin:.0%}. "
        "Interpret with extra care.",
        "Độ tin cậy thấp: chẩn đoán đầu tiên chỉ đạt {probability:.0%} và hơn chẩn đoán tiếp theo {margin:.0%}. "
        "Cần diễn giải thận trọng."),
    "gate_not_dermoscopic": (
        "This does not look like a dermoscopic photo of a skin lesion. The model only knows dermoscopic images of "
        "7 lesion types, so it gives no diagnosis and no advice for this photo.",
        "Ảnh này không giống ảnh soi da của một tổn thương da. Mô hình chỉ biết ảnh soi da của 7 loại tổn thương, "
        "nên không đưa ra chẩn đoán hay khuyến nghị cho ảnh này."),
    "gate_blurred": ("The photo is blurred, so no diagnosis and no advice are given.",
                     "Ảnh bị mờ nên không đưa ra chẩn đoán hay khuyến nghị."),
    "gate_too_dark": ("The photo is too dark, so no diagnosis and no advice are given.",
                      "Ảnh quá tối nên không đưa ra chẩn đoán hay khuyến nghị."),
    "gate_too_bright": ("The photo is too bright (over-exposed), so no diagnosis and no advice are given.",
                        "Ảnh quá sáng (cháy sáng) nên không đưa ra chẩn đoán hay khuyến nghị."),
    "gate_lesion_too_small": (
        "The lesion is too small in the photo, so no diagnosis and no advice are given.",
        "Tổn thương quá nhỏ trong ảnh nên không đưa ra chẩn đoán hay khuyến nghị."),
    "gate_no_lesion_visible": (
        "No lesion is visible in the photo (a plain surface, a covered or blank lens, or skin with nothing on it), "
        "so no diagnosis and no advice are given.",
        "Không thấy tổn thương nào trong ảnh (bề mặt trơn, ống kính bị che hoặc trống, hoặc vùng da không có gì), "
        "nên không đưa ra chẩn đoán hay khuyến nghị."),
    # What to do about each finding: one piece of advice per reason.
    "gate_advice_not_dermoscopic": (
        "Take the photo through a dermatoscope (contact or polarised), with the lesion in the centre, and upload "
        "it again. Rulers, ink marks or a watermark on a dermoscopic photo do not matter.",
        "Chụp ảnh qua kính soi da (tiếp xúc hoặc phân cực), tổn thương ở giữa, rồi tải lên lại. Thước đo, vết "
        "mực hay hình mờ trên ảnh soi da không ảnh hưởng."),
    "gate_advice_no_lesion_visible": (
        "Check that the lens is uncovered and clean and that the lesion is in the field of view, then take the "
        "photo again.",
        "Kiểm tra ống kính không bị che và sạch, tổn thương nằm trong khung hình, rồi chụp lại."),
    "gate_advice_blurred": (
        "Hold the dermatoscope still in full contact with the skin (with gel or alcohol for contact "
        "dermoscopy), let the camera focus on the lesion, then take the photo again.",
        "Giữ kính soi da yên và áp sát da (dùng gel hoặc cồn khi soi tiếp xúc), để máy lấy nét vào tổn thương, "
        "rồi chụp lại."),
    "gate_advice_too_dark": (
        "Switch on the dermatoscope's own light (or charge it) and avoid shading the lesion, then take the photo "
        "again.",
        "Bật đèn của kính soi da (hoặc sạc pin) và tránh che bóng tổn thương, rồi chụp lại."),
    "gate_advice_too_bright": (
        "Turn off the phone's flash, lower the exposure or use polarised light against glare, then take the "
        "photo again.",
        "Tắt đèn flash của điện thoại, giảm độ phơi sáng hoặc dùng ánh sáng phân cực để tránh chói, rồi chụp lại."),
    "gate_advice_lesion_too_small": (
        "Come closer or zoom in so that the lesion fills about a third of the picture, in its centre, then take "
        "the photo again.",
        "Đến gần hơn hoặc phóng to để tổn thương chiếm khoảng một phần ba khung hình, ở giữa, rồi chụp lại."),
    "analyse_anyway": ("Analyse anyway (outside the validated use)", "Vẫn phân tích (ngoài phạm vi đã kiểm định)"),
    "outside_use": (
        "Outside the model's validated use: the input check flagged this photo ({what}). The result below may "
        "be meaningless; do not base a clinical decision on it.",
        "Ngoài phạm vi sử dụng đã kiểm định của mô hình: bước kiểm tra ảnh đã cảnh báo ảnh này ({what}). Kết quả "
        "dưới đây có thể vô nghĩa; không dựa vào đó để ra quyết định lâm sàng."),
    "gate_what_not_dermoscopic": ("not a dermoscopic lesion photo", "không phải ảnh soi da tổn thương"),
    "gate_what_blurred": ("blurred", "ảnh mờ"),
    "gate_what_too_dark": ("too dark", "ảnh quá tối"),
    "gate_what_too_bright": ("too bright", "ảnh quá sáng"),
    "gate_what_lesion_too_small": ("lesion too small in the photo", "tổn thương quá nhỏ trong ảnh"),
    "gate_what_no_lesion_visible": ("no lesion visible", "không thấy tổn thương"),
    "attention": ("Where the model looked (Soft-Attention)", "Vùng mô hình chú ý (Soft-Attention)"),
    "opacity": ("Heat-map opacity", "Độ đậm bản đồ nhiệt"),
    "original": ("Photo", "Ảnh chụp"),
    "overlay": ("Attention overlay", "Bản đồ chú ý chồng lên ảnh"),
    "heads": ("Show the partial maps the overlay adds up", "Hiện từng bản đồ thành phần của bản đồ chú ý"),
    "head": ("Map {index}", "Bản đồ {index}"),
    "heads_identical": (
        "For this photo the partial maps are practically identical, so only their sum (above) is shown.",
        "Với ảnh này, các bản đồ thành phần gần như giống hệt nhau nên chỉ hiện bản đồ tổng (ở trên)."),
    "attention_measured": (
        "How far to trust this map: on its {n} test photos, {inside} of this model's attention fell inside the "
        "lesion the dermatologists outlined, which covers {area} of a photo on average. Red outside the lesion is "
        "the model looking at the skin around it, not a finding.",
        "Mức tin cậy của bản đồ này: trên {n} ảnh kiểm tra, {inside} sự chú ý của mô hình nằm trong vùng tổn "
        "thương do bác sĩ da liễu khoanh, vùng này trung bình chiếm {area} bức ảnh. Màu đỏ ngoài tổn thương là mô "
        "hình nhìn vùng da xung quanh, không phải một dấu hiệu bệnh."),
    "colour_scale": ("Colour scale of the overlay: blue = little attention, red = most attention",
                     "Thang màu của bản đồ: xanh = ít chú ý, đỏ = chú ý nhiều nhất"),
    "no_attention": ("This model has no Soft-Attention module, so no attention map is shown.",
                     "Mô hình này không có mô-đun Soft-Attention nên không có bản đồ chú ý."),
    "pdf": ("Download PDF report", "Tải báo cáo PDF"),
    "report_title": ("Skin lesion analysis report", "Báo cáo phân tích tổn thương da"),
    "report_inputs": ("Inputs", "Thông tin nhập"),
    "report_model": ("Model: {name}, version {version}", "Mô hình: {name}, phiên bản {version}"),
    "report_date": ("Analysed {date}", "Phân tích lúc {date}"),
    "report_file": ("lesion-report", "bao-cao-ton-thuong"),
    "report_identity": ("Patient: {patient_id} · Clinic: {clinic} · Clinician: {clinician}",
                        "Bệnh nhân: {patient_id} · Phòng khám: {clinic} · Bác sĩ: {clinician}"),
    "report_photo": ("Photo file: {name}", "Tệp ảnh: {name}"),
    "report_validated_use": ("Validated use", "Phạm vi sử dụng đã kiểm định"),
    "report_page": ("Page {page} of {pages}", "Trang {page}/{pages}"),
    "report_issued": ("Report issued {date}", "Báo cáo lập lúc {date}"),
    "report_patient": ("Patient {patient_id}", "Bệnh nhân {patient_id}"),
    "report_case": ("Case #{case_id} · Visit date: {visit_date} · Lesion: {lesion}",
                    "Ca #{case_id} · Ngày khám: {visit_date} · Tổn thương: {lesion}"),
    "report_final": ("Final diagnosis: {diagnosis} ({source}, {date}, recorded by {user})",
                     "Chẩn đoán cuối cùng: {diagnosis} ({source}, {date}, ghi bởi {user})"),
    "report_no_final": ("Final diagnosis: not yet recorded", "Chẩn đoán cuối cùng: chưa ghi nhận"),
    "report_scale_low": ("little attention", "ít chú ý"),
    "report_scale_high": ("most attention", "chú ý nhiều nhất"),
    "age_label": ("Age", "Tuổi"),
    "age_years": ("{age:g} years", "{age:g}"),
    "not_given": ("not given", "không cung cấp"),
    "report_outside_use": (
        "OUTSIDE THE VALIDATED USE: the input check flagged this photo ({what}); the doctor chose to analyse it "
        "anyway. Do not base a clinical decision on this result.",
        "NGOÀI PHẠM VI ĐÃ KIỂM ĐỊNH: bước kiểm tra ảnh đã cảnh báo ảnh này ({what}); bác sĩ vẫn chọn phân tích. "
        "Không dựa vào kết quả này để ra quyết định lâm sàng."),
    "bad_image": ("This photo cannot be used.", "Không thể dùng ảnh này."),
    "image_missing": ("The file does not exist.", "Tệp không tồn tại."),
    "image_unsupported": ("Please provide a photo (JPEG, PNG, BMP, TIFF or WebP).",
                          "Vui lòng cung cấp ảnh (JPEG, PNG, BMP, TIFF hoặc WebP)."),
    "image_empty": ("The file is empty. Please choose the photo again.", "Tệp rỗng. Vui lòng chọn lại ảnh."),
    "image_too_large": ("The photo is too large. Please use a smaller photo.",
                        "Ảnh quá lớn. Vui lòng dùng ảnh nhỏ hơn."),
    "image_unreadable": ("This file is not a photo that can be read (JPEG, PNG, BMP, TIFF or WebP).",
                         "Tệp này không phải là ảnh đọc được (JPEG, PNG, BMP, TIFF hoặc WebP)."),
    "image_damaged": ("The photo file is damaged or incomplete. Please choose it again.",
                      "Tệp ảnh bị hỏng hoặc không đầy đủ. Vui lòng chọn lại."),
    "image_aspect": ("The picture is a narrow strip, not a lesion photo.",
                     "Ảnh là một dải hẹp, không phải ảnh tổn thương."),
    "image_too_small": ("The photo is too small (at least 32×32 pixels are needed).",
                        "Ảnh quá nhỏ (cần ít nhất 32×32 điểm ảnh)."),
    "image_channels": ("The image must be a colour or grayscale photo.", "Ảnh phải là ảnh màu hoặc ảnh xám."),
    "bad_metadata": ("Please check the patient details: {error}", "Vui lòng kiểm tra thông tin bệnh nhân: {error}"),
    # comparison page
    "compare_intro": (
        "Every figure below is read from the models' own measured reports: on their lesion-grouped HAM10000 test "
        "split unless a column names another set.",
        "Mọi số liệu dưới đây lấy từ báo cáo đo đạc của từng mô hình: trên tập kiểm tra HAM10000 chia theo tổn "
        "thương, trừ khi tên cột ghi một tập khác."),
    "no_metrics": ("No model has a metrics report yet.", "Chưa có mô hình nào có báo cáo số liệu."),
    "summary_metrics": ("Overall metrics", "Chỉ số tổng quát"),
    "accuracy": ("Accuracy", "Độ chính xác"),
    "balanced_accuracy": ("Balanced accuracy", "Độ chính xác cân bằng"),
    "macro_f1": ("Macro F1", "F1 trung bình"),
    "macro_auc": ("Macro AUC", "AUC trung bình"),
    "metric": ("Metric", "Chỉ số"),
    "value": ("Value", "Giá trị"),
    "per_class": ("Per-class figures", "Chỉ số theo từng lớp"),
    "recall": ("Recall", "Độ nhạy (recall)"),
    "f1": ("F1", "F1"),
    "confusion": ("Confusion matrix", "Ma trận nhầm lẫn"),
    "truth": ("True diagnosis", "Chẩn đoán thật"),
    "predicted": ("Predicted", "Dự đoán"),
    "photos": ("Photos", "Số ảnh"),
    "site_heading": ("This clinic's own alert threshold", "Ngưỡng cảnh báo riêng của phòng khám"),
    "site_in_force_model": ("In force: the model's own threshold, {threshold}.",
                            "Đang áp dụng: ngưỡng của mô hình, {threshold}."),
    "site_in_force_clinic": ("In force: this clinic's own threshold {threshold}, adopted {when} by {user}.",
                             "Đang áp dụng: ngưỡng riêng của phòng khám {threshold}, do {user} áp dụng lúc {when}."),
    "site_too_few_malignant": (
        "Not offered yet: it needs at least {needed} malignant cases confirmed by histopathology or a specialist "
        "({have} so far). With fewer, no threshold can show with 95% confidence that it still catches 90% of "
        "melanomas and carcinomas.",
        "Chưa đề xuất: cần ít nhất {needed} ca ác tính được xác định bằng mô bệnh học hoặc bác sĩ chuyên khoa "
        "(hiện có {have}). Với ít ca hơn, không ngưỡng nào chứng minh được với độ tin cậy 95% rằng vẫn phát hiện "
        "90% số u hắc tố và ung thư biểu mô."),
    "site_no_benign": (
        "Not offered: no benign case is confirmed by histopathology or a specialist yet.",
        "Chưa đề xuất: chưa có ca lành tính nào được xác định bằng mô bệnh học hoặc bác sĩ chuyên khoa."),
    "site_offered": (
        "From {malignant} malignant and {benign} benign cases confirmed by histopathology or a specialist: threshold "
        "{threshold}, which catches {sensitivity} of the malignant ones (95% lower bound {lower}) and leaves "
        "{specificity} of the benign ones without an alert. These figures come from the cases that chose the "
        "threshold, so they flatter; chosen on four fifths of the cases and measured on the fifth left out, in turn: "
        "{cv_sensitivity} caught (lower bound {cv_lower}), {cv_specificity} without an alert.",
        "Từ {malignant} ca ác tính và {benign} ca lành tính được xác định bằng mô bệnh học hoặc bác sĩ chuyên "
        "khoa: ngưỡng {threshold}, phát hiện {sensitivity} số ca ác tính (cận dưới của khoảng tin cậy 95%: {lower}) và không cảnh báo "
        "{specificity} số ca lành tính. Các số này đo trên chính các ca đã chọn ngưỡng nên lạc quan; khi chọn trên "
        "bốn phần năm số ca và đo trên phần còn lại, lần lượt từng phần: phát hiện {cv_sensitivity} (cận dưới "
        "{cv_lower}), {cv_specificity} không bị cảnh báo."),
    "site_adopt": ("Adopt this threshold for new analyses", "Áp dụng ngưỡng này cho các lần phân tích mới"),
    "site_revert": ("Go back to the model's own threshold", "Trở lại ngưỡng của mô hình"),
    "site_adopted": ("Adopted: new analyses with this model version use threshold {threshold}.",
                     "Đã áp dụng: các lần phân tích mới với phiên bản mô hình này dùng ngưỡng {threshold}."),
    "site_reverted": ("The model's own threshold is in force again.", "Ngưỡng của mô hình được áp dụng trở lại."),
    "audit_adopt_threshold": ("adopted the clinic's own alert threshold",
                              "áp dụng ngưỡng cảnh báo riêng của phòng khám"),
    "audit_revert_threshold": ("went back to the model's own alert threshold", "trở lại ngưỡng cảnh báo của mô hình"),
    "threshold_source_model": (
        "Alert threshold {threshold}: the model's own, chosen on its validation photos.",
        "Ngưỡng cảnh báo {threshold}: ngưỡng của mô hình, chọn trên ảnh kiểm định của mô hình."),
    "threshold_source_clinic": (
        "Alert threshold {threshold}: this clinic's own, chosen on its confirmed cases (Clinic validation).",
        "Ngưỡng cảnh báo {threshold}: ngưỡng riêng của phòng khám này, chọn trên các ca đã xác định chẩn đoán "
        "(trang Kiểm chứng tại phòng khám)."),
    "date_help": ("Day/month/year (DD/MM/YYYY): type it or pick it from the calendar.",
                  "Ngày/tháng/năm (DD/MM/YYYY là ngày/tháng/năm): gõ vào hoặc chọn trên lịch."),
    "choose_model": ("Model to inspect", "Mô hình cần xem"),
    "roc": ("ROC curves (one class against the rest)", "Đường ROC (một lớp so với phần còn lại)"),
    "fpr": ("False positive rate", "Tỉ lệ dương tính giả"),
    "tpr": ("True positive rate (sensitivity)", "Tỉ lệ dương tính thật (độ nhạy)"),
    "speed": ("Accuracy per millisecond: parameters, CPU latency and balanced accuracy",
              "Độ chính xác trên mỗi mili giây: số tham số, độ trễ CPU và độ chính xác cân bằng"),
    "latency": ("Median latency per photo on CPU (ms)", "Độ trễ trung vị mỗi ảnh trên CPU (ms)"),
    "parameters": ("Parameters", "Số tham số"),
    "no_benchmark": ("Run `python -m skin_core bench` to measure latency.",
                     "Chạy `python -m skin_core bench` để đo độ trễ."),
    "ablations": ("Ablations: what each part of the method contributes", "Thử nghiệm loại bỏ: đóng góp của từng thành phần"),
    "variant": ("Variant", "Biến thể"),
    "full_model": ("full model", "mô hình đầy đủ"),
    "no_metadata": ("without metadata", "không có thông tin bệnh nhân"),
    "no_soft_attention": ("without Soft-Attention", "không có Soft-Attention"),
    "unweighted_loss": ("unweighted loss", "hàm mất mát không trọng số"),
    "no_ablations": ("No ablation models are available.", "Chưa có mô hình thử nghiệm loại bỏ."),
    "attention_in_lesion": ("Attention inside the lesion", "Mức chú ý nằm trong tổn thương"),
    "attention_mass": ("Attention mass inside the lesion", "Tỉ lệ chú ý trong tổn thương"),
    "lesion_share": ("Lesion share of the image", "Tỉ lệ diện tích tổn thương"),
    "calibration": ("Calibration error (ECE)", "Sai số hiệu chuẩn (ECE)"),
    "backbone": ("Backbone", "Mạng nền"),
    "intended_use_column": ("Intended use", "Mục đích"),
    "research_variant": (
        "Research variant ({variant}): it shows what one part of the method contributes and is not offered for "
        "diagnosis.",
        "Biến thể nghiên cứu ({variant}): dùng để cho thấy đóng góp của một thành phần trong phương pháp, không "
        "dùng để chẩn đoán."),
    "clinical": ("clinical", "lâm sàng"),
    "research": ("research only", "chỉ nghiên cứu"),
    "status_released": ("offered for diagnosis", "dùng để chẩn đoán"),
    "status_older": ("older version", "phiên bản cũ"),
    "status_not_offered": ("not offered for diagnosis", "không dùng để chẩn đoán"),
    "ece": ("Calibration error (ECE)", "Sai số hiệu chuẩn (ECE)"),
    "ece_before_calibration": ("ECE before calibration", "ECE trước hiệu chuẩn"),
    "malignant_sensitivity": ("Malignant sensitivity", "Độ nhạy ác tính"),
    "malignant_specificity": ("Malignant specificity", "Độ đặc hiệu ác tính"),
    "bundle_mb": ("Size (MB)", "Dung lượng (MB)"),
    "test_images": ("Test photos", "Số ảnh kiểm tra"),
    "input_check": ("Input check: photos flagged as unusable", "Kiểm tra ảnh đầu vào: tỉ lệ ảnh bị cảnh báo"),
    "input_check_intro": (
        "Share of photos the input check flags, and its AUROC against the internal test split, on photos it was "
        "not tuned on. Dermoscopic photos should pass; the other kinds should be flagged.",
        "Tỉ lệ ảnh bị bước kiểm tra cảnh báo, và AUROC so với tập kiểm tra nội bộ, trên các ảnh không dùng để "
        "tinh chỉnh. Ảnh soi da cần được chấp nhận; các loại ảnh khác cần bị cảnh báo."),
    "internal_test": ("Internal test (dermoscopic)", "Kiểm tra nội bộ (ảnh soi da)"),
    "isic2017_test": ("ISIC 2017 test set (dermoscopic photos from other clinics)",
                      "Tập kiểm tra ISIC 2017 (ảnh soi da từ các phòng khám khác)"),
    "A_clinical": ("Clinical photos of skin", "Ảnh chụp da thông thường"),
    "A_clinical_logo_cropped": ("Clinical photos, logo cropped", "Ảnh chụp da, đã cắt logo"),
    "B_nonskin": ("Non-skin photos", "Ảnh không phải da"),
    "C_medical": ("Other medical images", "Ảnh y khoa khác"),
    "no_gate": ("This model has no input check yet (python -m skin_core fit-gate).",
                "Mô hình này chưa có bước kiểm tra ảnh (python -m skin_core fit-gate)."),
    "gate_card": (
        "Input check (threshold {threshold:.2f}): flags {internal:.1%} of the internal test photos and {external} "
        "of dermoscopic photos from other clinics (ISIC 2017); flags {clinical:.0%} of clinical photos of skin, "
        "{nonskin:.0%} of non-skin photos and {medical:.0%} of other medical images it was not tuned on.",
        "Kiểm tra ảnh (ngưỡng {threshold:.2f}): cảnh báo {internal:.1%} ảnh kiểm tra nội bộ và {external} ảnh soi da "
        "từ phòng khám khác (ISIC 2017); cảnh báo {clinical:.0%} ảnh chụp da thông thường, {nonskin:.0%} ảnh không "
        "phải da và {medical:.0%} ảnh y khoa khác chưa dùng để tinh chỉnh."),
    "before": ("before the probabilities were adjusted", "trước khi điều chỉnh xác suất"),
    "after": ("after the probabilities were adjusted", "sau khi điều chỉnh xác suất"),
    "show_research": ("Show research models too (ablations and experiments)",
                      "Hiện cả các mô hình nghiên cứu (thử nghiệm loại bỏ và các thử nghiệm khác)"),
    "show_research_help": ("Research models show what each part of the method contributes; they are never offered "
                           "for diagnosis. Off: only the released models.",
                           "Mô hình nghiên cứu cho thấy đóng góp của từng thành phần trong phương pháp; chúng không "
                           "bao giờ được dùng để chẩn đoán. Khi tắt: chỉ hiện các mô hình đã phát hành."),
    "no_released": ("No released model has a metrics report yet: turn on the research models to compare those.",
                    "Chưa có mô hình đã phát hành nào có báo cáo số liệu: hãy bật hiện mô hình nghiên cứu để so "
                    "sánh các mô hình đó."),
    "ablations_need_research": ("The ablations are research models: turn on “Show research models too” above to "
                                "see them.",
                                "Các thử nghiệm loại bỏ là mô hình nghiên cứu: hãy bật “Hiện cả các mô hình nghiên "
                                "cứu” ở trên để xem."),
    "validation_balanced_accuracy": ("HAM10000 validation: balanced accuracy",
                                     "HAM10000 tập kiểm định: độ chính xác cân bằng"),
    "test_accuracy": ("HAM10000 test: accuracy", "HAM10000 tập kiểm tra: độ chính xác"),
    "test_balanced_accuracy": ("HAM10000 test: balanced accuracy", "HAM10000 tập kiểm tra: độ chính xác cân bằng"),
    "test_macro_f1": ("HAM10000 test: macro F1", "HAM10000 tập kiểm tra: F1 trung bình"),
    "test_macro_auc": ("HAM10000 test: macro AUC", "HAM10000 tập kiểm tra: AUC trung bình"),
    "test_mel_recall": ("HAM10000 test: melanoma recall", "HAM10000 tập kiểm tra: độ nhạy u hắc tố"),
    "test_malignant_sensitivity": ("HAM10000 test: malignant sensitivity", "HAM10000 tập kiểm tra: độ nhạy ác tính"),
    "test_malignant_specificity": ("HAM10000 test: malignant specificity",
                                   "HAM10000 tập kiểm tra: độ đặc hiệu ác tính"),
    "test_ece": ("HAM10000 test: calibration error (ECE)", "HAM10000 tập kiểm tra: sai số hiệu chuẩn (ECE)"),
    "set_isic2017_val": ("ISIC 2017 validation", "ISIC 2017 tập kiểm định"),
    "set_ph2": ("PH2", "PH2"),
    "set_isic2017_test": ("ISIC 2017 test", "ISIC 2017 tập kiểm tra"),
    "set_role_tuning": ("tuning", "tinh chỉnh"),
    "set_role_report_only": ("report only", "chỉ để báo cáo"),
    "set_role_other": ("other clinics", "phòng khám khác"),
    "set_balanced_accuracy": ("{set} ({role}): balanced accuracy over the classes present",
                              "{set} ({role}): độ chính xác cân bằng trên các lớp có mặt"),
    "set_mel_recall": ("{set} ({role}): melanoma recall", "{set} ({role}): độ nhạy u hắc tố"),
    "set_flagged": ("{set} ({role}): dermoscopic photos flagged", "{set} ({role}): ảnh soi da bị cảnh báo"),
    "external_sets_note": (
        "Photos from other cameras. Tuning sets (ISIC 2017 validation, PH2) are meant for choosing models and "
        "thresholds, so their figures may flatter; the report-only set (ISIC 2017 test) chooses nothing. Their "
        "balanced accuracy counts only the diagnoses the set contains. — : not measured for this model.",
        "Ảnh từ các máy soi da khác. Tập tinh chỉnh (ISIC 2017 kiểm định, PH2) dùng để chọn mô hình và ngưỡng nên "
        "số liệu trên đó có thể tốt hơn thực tế; tập chỉ để báo cáo (ISIC 2017 kiểm tra) không dùng để chọn gì. "
        "Độ chính xác cân bằng trên các tập này chỉ tính các chẩn đoán có trong tập. — : chưa đo với mô hình này."),
    # about page
    "about_intro": (
        "Model cards: what each model is for, what it was trained and tested on, and where it is weak.",
        "Thẻ mô hình: mục đích, dữ liệu huấn luyện và kiểm tra, và các hạn chế của từng mô hình."),
    "intended_use": ("Intended use", "Mục đích sử dụng"),
    "training_data": ("Training data", "Dữ liệu huấn luyện"),
    "training_data_text": (
        "{data}; split by lesion "
        "(all photos of a lesion on the same side) 70 / 15 / 15 (random split no. {seed}): {train:,} training, "
        "{val:,} validation and {test:,} test images.",
        "{data}; chia theo tổn thương "
        "(mọi ảnh của cùng một tổn thương nằm chung một tập) 70 / 15 / 15 (lần chia ngẫu nhiên số {seed}): {train:,} "
        "ảnh huấn luyện, {val:,} ảnh kiểm định và {test:,} ảnh kiểm tra."),
    "architecture": ("Architecture", "Kiến trúc"),
    "architecture_text": (
        "{backbone} (ImageNet weights) with {parts}; input {height}×{width}; {parameters:,} parameters.",
        "{backbone} (trọng số ImageNet) với {parts}; đầu vào {height}×{width}; {parameters:,} tham số."),
    "ensemble_text": (
        "an ensemble: the average of the calibrated probabilities of {members}, calibrated again on the validation "
        "photos; the attention map and the photo check come from {lead}; {parameters:,} parameters in all.",
        "một tổ hợp mô hình: trung bình các xác suất đã hiệu chỉnh của {members}, được hiệu chỉnh lại trên ảnh "
        "kiểm định; bản đồ chú ý và bước kiểm tra ảnh lấy từ {lead}; tổng cộng {parameters:,} tham số."),
    "framed_member_text": (
        "the model {lead}, shown each photo framed around its lesion and calibrated again on the framed validation "
        "photos; {parameters:,} parameters.",
        "mô hình {lead}, nhận mỗi ảnh đã được cắt quanh tổn thương và được hiệu chỉnh lại trên ảnh kiểm định đã cắt; "
        "{parameters:,} tham số."),
    "framing_text": (
        "Before the diagnosis, a photo in which the lesion is small (taken from further away than the training "
        "photos) is cropped around the lesion so that it spans about {target:.0%} of the view; a photo whose crop "
        "would keep {below:.0%} of its side or more is used whole. The attention map shows only the part the model "
        "saw.",
        "Trước khi chẩn đoán, ảnh có tổn thương nhỏ (chụp xa hơn ảnh huấn luyện) được cắt quanh tổn thương để tổn "
        "thương chiếm khoảng {target:.0%} khung nhìn; ảnh mà phần cắt giữ từ {below:.0%} cạnh trở lên được dùng "
        "nguyên. Bản đồ chú ý chỉ hiển thị phần mô hình đã nhìn."),
    "with_sa": ("Soft-Attention", "Soft-Attention"),
    "with_metadata": ("metadata branch (age, sex, site)", "nhánh thông tin bệnh nhân (tuổi, giới, vị trí)"),
    "with_weighted_loss": ("class-weighted loss", "hàm mất mát có trọng số lớp"),
    "test_metrics": ("Measured on the test split ({n:,} images)", "Đo trên tập kiểm tra ({n:,} ảnh)"),
    "malignant_figures": (
        "Malignant (melanoma, BCC, AKIEC) vs benign at the alert threshold {threshold:.2f}: sensitivity "
        "{sensitivity:.0%}, specificity {specificity:.0%}, AUC {auc:.3f}.",
        "Ác tính (u hắc tố, BCC, AKIEC) so với lành tính tại ngưỡng cảnh báo {threshold:.2f}: độ nhạy "
        "{sensitivity:.0%}, độ đặc hiệu {specificity:.0%}, AUC {auc:.3f}."),
    "threshold_chosen": (
        "The alert threshold was chosen on the validation photos alone: the highest at which malignant sensitivity "
        "reaches {target:.0%}{bound}{margin}.",
        "Ngưỡng cảnh báo được chọn chỉ trên ảnh kiểm định: ngưỡng cao nhất mà độ nhạy với ác tính đạt "
        "{target:.0%}{bound}{margin}."),
    "threshold_bound": (" (its {confidence:.0%} lower confidence bound)", " (tính theo cận dưới tin cậy {confidence:.0%})"),
    "threshold_margin": (
        ", also on the same photos 15% darker and 15% paler, as another camera or light would make them "
        "(without that condition: {as_is:.2f})",
        ", kể cả khi các ảnh đó tối hơn 15% và nhạt hơn 15% như một máy ảnh hay ánh sáng khác tạo ra "
        "(nếu bỏ điều kiện này: {as_is:.2f})"),
    "calibration_text": (
        "The probabilities were adjusted on the validation photos so that they say how often the model is right: "
        "of the lesions given 80%, about 80% have that diagnosis (adjustment factor {temperature:.2f}). Average gap "
        "between the stated probability and the actual accuracy (ECE): {before:.3f} before, {after:.3f} after.",
        "Xác suất đã được điều chỉnh trên ảnh kiểm định để nói đúng mức độ mô hình đáng tin: trong các tổn thương "
        "được cho 80%, khoảng 80% thực sự có chẩn đoán đó (hệ số điều chỉnh {temperature:.2f}). Chênh lệch trung "
        "bình giữa xác suất đưa ra và độ chính xác thực tế (ECE): {before:.3f} trước, {after:.3f} sau khi điều "
        "chỉnh."),
    "image_only_text": (
        "Without any patient details the balanced accuracy is {value:.3f} (with details: {full:.3f}).",
        "Khi không có thông tin bệnh nhân, độ chính xác cân bằng là {value:.3f} (có thông tin: {full:.3f})."),
    "training_text": (
        "Trained in {passes} over the training photos, {minutes:.0f} min on {hardware}.",
        "Huấn luyện {passes} qua toàn bộ ảnh huấn luyện, mất {minutes:.0f} phút trên {hardware}."),
    "hardware_gpu": ("a computer with {cores} and {gpus}", "máy tính có {cores} và {gpus}"),
    "hardware_cpu": ("a computer with {cores}, without a graphics card (GPU)",
                     "máy tính có {cores}, không có card đồ họa (GPU)"),
    "external_results": (
        "{name}, {n} photos never used for training or tuning: balanced accuracy {balanced_accuracy:.2f} (internal "
        "{internal:.2f}), melanoma recall {mel_recall:.0%}, malignant sensitivity {sensitivity:.0%} and specificity "
        "{specificity:.0%} at the model's own alert threshold ({threshold:.0%}). Expect figures like these, not the "
        "internal ones, on a new dermatoscope.",
        "{name}, {n} ảnh không dùng để huấn luyện hay tinh chỉnh: độ chính xác cân bằng {balanced_accuracy:.2f} (nội "
        "bộ {internal:.2f}), độ nhạy u hắc tố {mel_recall:.0%}, độ nhạy ác tính {sensitivity:.0%} và độ đặc hiệu "
        "{specificity:.0%} tại ngưỡng cảnh báo của mô hình ({threshold:.0%}). Với một kính soi da mới, hãy dự kiến kết quả như vậy chứ không phải "
        "kết quả nội bộ."),
    "no_external": ("Not yet measured on photos from other clinics.", "Chưa được đo trên ảnh từ phòng khám khác."),
    "external_heading": ("Photos from other clinics", "Ảnh từ phòng khám khác"),
    "limits": ("Known limits", "Hạn chế đã biết"),
    "citations": ("Citations", "Trích dẫn"),
    # case history
    "page_history": ("Case history", "Lịch sử ca bệnh"),
    "page_validation": ("Clinic validation", "Kiểm chứng tại phòng khám"),
    "page_monitor": ("Drift monitor", "Theo dõi thay đổi dữ liệu"),
    "monitor_intro": (
        "Per month and model version: how many photos the input check refused and why, the mix of top diagnoses, "
        "the mean top probability, low-confidence answers and alerts, against the model's own test photos (dotted "
        "lines). A month with fewer than {minimum} analyses is shown but not judged. No patient data is counted.",
        "Theo tháng và phiên bản mô hình: số ảnh bị bước kiểm tra từ chối và lý do, tỉ lệ các chẩn đoán đứng đầu, "
        "xác suất trung bình của chẩn đoán đứng đầu, các câu trả lời độ tin cậy thấp và các cảnh báo, so với ảnh "
        "kiểm tra của chính mô hình (đường chấm). Tháng có ít hơn {minimum} lần phân tích được hiển thị nhưng không "
        "đánh giá. Không tính bất kỳ dữ liệu bệnh nhân nào."),
    "monitor_empty": ("No analysis has been counted yet.", "Chưa có lần phân tích nào được ghi nhận."),
    "monitor_too_few": ("Not judged yet: no month has {minimum} analyses with this model version.",
                        "Chưa đánh giá: chưa tháng nào có đủ {minimum} lần phân tích với phiên bản mô hình này."),
    "monitor_no_drift": ("No month has drifted from what the model was checked on.",
                         "Không có tháng nào lệch khỏi dữ liệu mô hình đã được kiểm tra."),
    "monitor_drift": (
        "{month}: this clinic's photos drifted from what the model was checked on ({what}). Check the "
        "dermatoscope, its light and how photos are taken, and the Clinic validation page, before trusting the "
        "answers as before.",
        "{month}: ảnh của phòng khám đã lệch khỏi dữ liệu mô hình được kiểm tra ({what}). Hãy kiểm tra kính soi da, "
        "ánh sáng và cách chụp, cùng trang Kiểm chứng tại phòng khám, trước khi tin các câu trả lời như trước."),
    "drift_refusals": ("refusals at least doubled", "số ảnh bị từ chối tăng gấp đôi trở lên"),
    "drift_alerts": ("alert rate more than doubled or halved", "tỉ lệ cảnh báo tăng hơn gấp đôi hoặc giảm hơn một nửa"),
    "drift_mix": ("Mix of top diagnoses", "Tỉ lệ các chẩn đoán đứng đầu"),
    "drift_confidence": ("confidence fell", "độ tin cậy giảm"),
    "drift_refused": ("Refused by the input check", "Bị bước kiểm tra ảnh từ chối"),
    "drift_low_confidence": ("Low-confidence answers", "Câu trả lời độ tin cậy thấp"),
    "drift_alert_rate": ("Malignancy alerts", "Cảnh báo ác tính"),
    "drift_mean_top": ("Mean top probability", "Xác suất trung bình của chẩn đoán đầu"),
    "drift_refused_model": ("refused, model's test photos", "bị từ chối, ảnh kiểm tra của mô hình"),
    "drift_alert_model": ("alerts, model's test photos", "cảnh báo, ảnh kiểm tra của mô hình"),
    "drift_month": ("Month", "Tháng"),
    "drift_reasons": ("Why refused", "Lý do từ chối"),
    "drift_flags": ("Drift", "Thay đổi"),
    "page_settings": ("Settings", "Cài đặt"),
    "maintenance": ("The app is under maintenance: its case history cannot be reached, so no analysis is done "
                    "now. Nothing you saved is lost. Please tell the clinic's IT staff (details are in the server "
                    "log).",
                    "Ứng dụng đang bảo trì: không kết nối được lịch sử ca bệnh nên hiện không phân tích. Các ca đã "
                    "lưu không bị mất. Hãy báo cho bộ phận IT của phòng khám (chi tiết trong nhật ký máy chủ)."),
    "maintenance_retry": ("Trying again every {seconds} s.", "Tự thử lại sau mỗi {seconds} giây."),
    "database_unavailable": ("the database cannot be reached just now; nothing was changed. Try again, or tell the "
                             "clinic's IT staff.",
                             "hiện không kết nối được cơ sở dữ liệu; chưa có gì thay đổi. Hãy thử lại hoặc báo bộ "
                             "phận IT của phòng khám."),
    "model_gone": ("The model you chose ({name}) is no longer available: the default is used. Check the model "
                   "before you analyse.",
                   "Mô hình bạn đã chọn ({name}) không còn dùng được: đang dùng mô hình mặc định. Hãy kiểm tra mô "
                   "hình trước khi phân tích."),
    "login_title": ("Sign in", "Đăng nhập"),
    "login_intro": ("Case history is on at this clinic: sign in to analyse and to see your clinic's cases.",
                    "Phòng khám đã bật lịch sử ca bệnh: hãy đăng nhập để phân tích và xem các ca của phòng khám."),
    "username": ("User name", "Tên đăng nhập"),
    "password": ("Password", "Mật khẩu"),
    "sign_in": ("Sign in", "Đăng nhập"),
    "sign_out": ("Sign out", "Đăng xuất"),
    "login_failed": ("User name or password is wrong, or the account is deactivated.",
                     "Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đã bị khóa."),
    "login_locked": ("Too many failed sign-ins for this user name: try again in 15 minutes.",
                     "Đăng nhập sai quá nhiều lần với tên này: hãy thử lại sau 15 phút."),
    "no_users": ("No user exists yet. On the server, create the first admin with: {command}",
                 "Chưa có người dùng nào. Trên máy chủ, hãy tạo quản trị viên đầu tiên bằng lệnh: {command}"),
    "signed_in_as": ("Signed in as {user} ({role})", "Đã đăng nhập: {user} ({role})"),
    "role_doctor": ("doctor", "bác sĩ"),
    "role_admin": ("admin", "quản trị viên"),
    "save_heading": ("Save to the case history", "Lưu vào lịch sử ca bệnh"),
    "lesion_label": ("Lesion (e.g. left shoulder, lesion 1)", "Tổn thương (ví dụ: vai trái, tổn thương 1)"),
    "visit_date": ("Visit date", "Ngày khám"),
    "note": ("Doctor's note", "Ghi chú của bác sĩ"),
    "save_case": ("Save case", "Lưu ca bệnh"),
    "saved_case": ("Saved as case #{case_id}. It is in the case history.",
                   "Đã lưu thành ca #{case_id} trong lịch sử ca bệnh."),
    "auto_saved": ("Saved automatically as case #{case_id} (clinic setting).",
                   "Đã tự động lưu thành ca #{case_id} (cài đặt của phòng khám)."),
    "save_failed": ("The case was not saved: {reason} Everything you entered is still here.",
                    "Chưa lưu được ca bệnh: {reason} Mọi thông tin bạn đã nhập vẫn còn nguyên."),
    "photo_storage_is": ("Photo storage at this clinic: {storage} (set by an admin on the Settings page).",
                         "Cách lưu ảnh tại phòng khám này: {storage} (quản trị viên đặt trong trang Cài đặt)."),
    "storage_full": ("the full photo", "ảnh gốc đầy đủ"),
    "storage_thumbnail": ("a small thumbnail only", "chỉ ảnh thu nhỏ"),
    "storage_none": ("no photo, only the result", "không giữ ảnh, chỉ giữ kết quả"),
    "field_required": ("{field} is required.", "Cần nhập {field}."),
    "field_too_long": ("{field} is longer than {limit} characters.", "{field} dài quá {limit} ký tự."),
    "field_too_short": ("{field} needs at least {limit} characters.", "{field} cần ít nhất {limit} ký tự."),
    "field_control_characters": ("{field} contains characters that cannot be stored.",
                                 "{field} chứa ký tự không lưu được."),
    "field_choice": ("{field}: this value cannot be used.", "{field}: không dùng được giá trị này."),
    "field_future": ("{field} lies in the future; nothing was recorded.",
                     "{field} nằm trong tương lai; chưa ghi nhận gì."),
    "field_before_visit": ("{field} is before the visit it confirms; nothing was recorded.",
                           "{field} trước ngày khám mà nó xác nhận; chưa ghi nhận gì."),
    "field_invalid": ("{field}: this value is not possible; correct it, or leave it empty if unknown.",
                      "{field}: giá trị này không hợp lệ; hãy sửa lại, hoặc để trống nếu không rõ."),
    "field_weak": ("{field} is too easy to guess (a common password, a word or a pattern such as 12345678); choose "
                   "a longer phrase of unrelated words.",
                   "{field} quá dễ đoán (mật khẩu phổ biến, một từ hoặc một chuỗi như 12345678); hãy chọn một cụm "
                   "dài hơn gồm các từ không liên quan đến nhau."),
    "field_exists": ("{field}: this name is taken already.", "{field}: tên này đã có người dùng."),
    "filters": ("Find cases", "Tìm ca bệnh"),
    "patient_code_filter": ("Patient code (or a part of it)", "Mã bệnh nhân (hoặc một phần)"),
    "date_from": ("Visits from", "Khám từ ngày"),
    "date_to": ("to", "đến ngày"),
    "diagnosis_filter": ("Final diagnosis", "Chẩn đoán cuối cùng"),
    "alert_filter": ("Malignancy alert", "Cảnh báo ác tính"),
    "any": ("any", "tất cả"),
    "unconfirmed": ("not yet confirmed", "chưa xác nhận"),
    "yes": ("yes", "có"),
    "audit_note_version": ("note version {number}", "ghi chú phiên bản {number}"),
    "unchanged": ("unchanged", "không đổi"),
    "no": ("no", "không"),
    "no_cases": ("No case matches.", "Không có ca nào phù hợp."),
    "cases_found": ("{cases} (newest visit first)", "{cases} (lần khám mới nhất ở trên)"),
    "case_column": ("Case", "Ca"),
    "lesion_column": ("Lesion", "Tổn thương"),
    "top_column": ("Model's top diagnosis", "Chẩn đoán hàng đầu của mô hình"),
    "malignant_column": ("Malignant probability", "Xác suất ác tính"),
    "final_column": ("Final diagnosis", "Chẩn đoán cuối cùng"),
    "open_case": ("Open a case", "Mở một ca"),
    "case_heading": ("Case #{case_id} · patient {patient} · {date}", "Ca #{case_id} · bệnh nhân {patient} · {date}"),
    "saved_by": ("Saved by {user} on {when}; model {model} {version}.",
                 "Lưu bởi {user} lúc {when}; mô hình {model} {version}."),
    "no_photo_stored": ("No photo was stored for this case (clinic setting at the time).",
                        "Ca này không lưu ảnh (theo cài đặt của phòng khám khi đó)."),
    "thumbnail_stored": ("Thumbnail (the clinic stores small photos only).",
                         "Ảnh thu nhỏ (phòng khám chỉ lưu ảnh nhỏ)."),
    "save_note": ("Save the note", "Lưu ghi chú"),
    "note_saved": ("Note saved.", "Đã lưu ghi chú."),
    "note_versions": ("Earlier versions of the note", "Các phiên bản trước của ghi chú"),
    "note_version": ("Version {number}, written by {user} on {when}",
                     "Phiên bản {number}, do {user} viết lúc {when}"),
    "final_heading": ("Final diagnosis", "Chẩn đoán cuối cùng"),
    "final_diagnosis": ("Diagnosis", "Chẩn đoán"),
    "final_source": ("Confirmed by", "Xác nhận bằng"),
    "final_date": ("Date of the diagnosis", "Ngày có chẩn đoán"),
    "save_final": ("Record the final diagnosis", "Ghi chẩn đoán cuối cùng"),
    "choose_one": ("Choose…", "Chọn…"),
    "final_incomplete": ("Choose the diagnosis, what confirmed it and its date: nothing was recorded.",
                         "Hãy chọn chẩn đoán, cách xác nhận và ngày có chẩn đoán: chưa ghi gì."),
    "final_saved": ("Final diagnosis recorded.", "Đã ghi chẩn đoán cuối cùng."),
    "final_is": ("Confirmed: {diagnosis} ({source}, {date}, recorded by {user}).",
                 "Đã xác nhận: {diagnosis} ({source}, {date}, ghi bởi {user})."),
    "not_confirmed": ("No final diagnosis yet.", "Chưa có chẩn đoán cuối cùng."),
    "source_histopathology": ("histopathology", "mô bệnh học"),
    "source_follow_up": ("clinical follow-up", "theo dõi lâm sàng"),
    "source_specialist": ("specialist opinion", "ý kiến chuyên gia"),
    "diagnosis_other": ("other (none of the seven classes)", "khác (ngoài bảy nhóm)"),
    "follow_up": ("Follow-up: other visits of this lesion", "Theo dõi: các lần khám khác của tổn thương này"),
    "no_other_visits": ("No other visit of this lesion is saved (same patient code and lesion).",
                        "Chưa lưu lần khám nào khác của tổn thương này (cùng mã bệnh nhân và tổn thương)."),
    "compare_with": ("Compare with the visit", "So sánh với lần khám"),
    "visit_summary": ("{date}: {diagnosis} {probability:.0%}, malignant probability {malignant:.0%}{alert}",
                      "{date}: {diagnosis} {probability:.0%}, xác suất ác tính {malignant:.0%}{alert}"),
    "alert_mark": (" — malignancy alert", " — cảnh báo ác tính"),
    "admin_tools": ("Export and deletion (admin)", "Xuất dữ liệu và xóa (quản trị viên)"),
    "export_cases": ("Cases to export", "Các ca cần xuất"),
    "with_photos": ("with the stored photos (ZIP)", "kèm ảnh đã lưu (ZIP)"),
    "prepare_export": ("Prepare the export", "Chuẩn bị tệp xuất"),
    "download_export": ("Download the export", "Tải tệp xuất"),
    "delete_patient": ("Delete all data of a patient (on request)", "Xóa toàn bộ dữ liệu của một bệnh nhân (theo yêu cầu)"),
    "delete_code": ("Patient code, exactly", "Mã bệnh nhân, chính xác"),
    "delete_confirm": ("I understand that this cannot be undone", "Tôi hiểu rằng thao tác này không thể hoàn tác"),
    "delete_button": ("Delete the patient's cases", "Xóa các ca của bệnh nhân"),
    "deleted": ("Deleted {cases} of patient {patient} (logged).",
                "Đã xóa {cases} của bệnh nhân {patient} (đã ghi nhật ký)."),
    "validation_intro": (
        "How each model did on this clinic's own patients: the cases with a confirmed final diagnosis, scored as "
        "the model saw them when they were saved.",
        "Kết quả của từng mô hình trên chính bệnh nhân của phòng khám: các ca đã có chẩn đoán cuối cùng, chấm điểm "
        "theo kết quả mô hình đưa ra lúc lưu."),
    "no_confirmed": ("No case has a confirmed diagnosis yet. Record final diagnoses on the Case history page.",
                     "Chưa có ca nào được xác nhận chẩn đoán. Hãy ghi chẩn đoán cuối cùng ở trang Lịch sử ca bệnh."),
    "validation_model": ("{model}, version {version}", "{model}, phiên bản {version}"),
    "validation_rests_on": ("Rests on {confirmed} ({malignant} malignant). Not counted: {other} confirmed as "
                            "another disease. Confirmed by: {sources}.",
                            "Dựa trên {confirmed} ({malignant} ca ác tính). Không tính {other} được xác nhận là "
                            "bệnh khác. Xác nhận bằng: {sources}."),
    "too_few_cases": ("Too few cases to rely on: at least {cases} confirmed cases with {malignant} malignant ones "
                      "are needed before these figures say more than chance.",
                      "Quá ít ca để tin cậy: cần ít nhất {cases} ca đã xác nhận, trong đó {malignant} ca ác tính, "
                      "thì các số liệu này mới có ý nghĩa."),
    "malignant_at_threshold": ("Malignant: sensitivity {sensitivity} (95% lower bound {lower}), specificity "
                               "{specificity} at the model's alert threshold {threshold:.2f}.",
                               "Ác tính: độ nhạy {sensitivity} (cận dưới 95% {lower}), độ đặc hiệu {specificity} "
                               "tại ngưỡng cảnh báo {threshold:.2f} của mô hình."),
    "not_available": ("n/a", "không có"),
    "settings_intro": ("Clinic-wide settings; every change is logged.",
                       "Cài đặt chung cho phòng khám; mọi thay đổi đều được ghi nhật ký."),
    "photo_storage": ("Photo storage", "Cách lưu ảnh"),
    "auto_save": ("Save every analysis automatically", "Tự động lưu mọi lần phân tích"),
    "save_settings": ("Save the settings", "Lưu cài đặt"),
    "settings_saved": ("Settings saved.", "Đã lưu cài đặt."),
    "users": ("Users", "Người dùng"),
    "add_user": ("Add a user", "Thêm người dùng"),
    "role": ("Role", "Vai trò"),
    "user_added": ("User {user} added.", "Đã thêm người dùng {user}."),
    "deactivate_user": ("Deactivate a user", "Khóa một người dùng"),
    "deactivate": ("Deactivate", "Khóa"),
    "user_deactivated": ("User {user} can no longer sign in.", "Người dùng {user} không thể đăng nhập nữa."),
    "reactivate_user": ("Reactivate a user", "Mở khóa một người dùng"),
    "reactivate": ("Reactivate", "Mở khóa"),
    "user_reactivated": ("User {user} can sign in again.", "Người dùng {user} có thể đăng nhập lại."),
    "user_active": ("Active", "Đang hoạt động"),
    "user_created": ("Created", "Ngày tạo"),
    "audit_when": ("When", "Thời điểm"),
    "audit_action": ("Action", "Thao tác"),
    "audit_detail": ("Detail", "Chi tiết"),
    "audit_log": ("Audit log", "Nhật ký hoạt động"),
    "audit_user_filter": ("User (exact name)", "Người dùng (đúng tên)"),
    "audit_actions_filter": ("Actions (all when none is chosen)", "Thao tác (để trống: tất cả)"),
    "audit_from": ("From", "Từ ngày"),
    "audit_to": ("to", "đến ngày"),
    "audit_grouped": ("Show each run of failed sign-ins as one row",
                      "Gộp mỗi chuỗi đăng nhập không thành công thành một dòng"),
    "audit_run": ("× {times}, first {first}, last {last}", "× {times}, lần đầu {first}, lần cuối {last}"),
    "audit_rows": ("Rows {first}–{last} of {total}", "Dòng {first}–{last} trong tổng số {total}"),
    "audit_none": ("No entry matches.", "Không có mục nào phù hợp."),
    "previous_page": ("Previous page", "Trang trước"),
    "next_page": ("Next page", "Trang sau"),
    "audit_login": ("signed in", "đăng nhập"),
    "audit_login_failed": ("sign-in failed", "đăng nhập không thành công"),
    "audit_login_refused": ("sign-in refused (too many failures)", "từ chối đăng nhập (sai quá nhiều lần)"),
    "audit_sign_out": ("signed out", "đăng xuất"),
    "audit_add_user": ("added a user", "thêm người dùng"),
    "audit_set_password": ("changed a password", "đổi mật khẩu"),
    "audit_change_user": ("changed a user", "thay đổi người dùng"),
    "audit_change_settings": ("changed the settings", "thay đổi cài đặt"),
    "audit_save": ("saved a case", "lưu ca bệnh"),
    "audit_search": ("searched the cases", "tìm ca bệnh"),
    "audit_view": ("opened a case", "mở ca bệnh"),
    "audit_confirm": ("recorded a final diagnosis", "ghi chẩn đoán cuối cùng"),
    "audit_edit_note": ("edited a note", "sửa ghi chú"),
    "audit_clinic_validation": ("viewed the clinic validation", "xem kiểm chứng tại phòng khám"),
    "audit_export": ("exported cases", "xuất dữ liệu ca bệnh"),
    "audit_research_export": ("exported de-identified cases for research",
                              "xuất ca bệnh đã ẩn danh cho nghiên cứu"),
    "research_export": ("De-identified export for research", "Xuất dữ liệu ẩn danh cho nghiên cứu"),
    "research_export_help": (
        "Every confirmed case with a kept photo, as a folder that python -m skin_core evaluate reads: patient codes "
        "replaced by pseudonyms drawn for this export, each patient's dates moved earlier by one random number of "
        "days, no names, notes or lesion labels, photos without camera metadata. README.txt inside says what was "
        "left out.",
        "Mọi ca đã có chẩn đoán cuối cùng và còn lưu ảnh, thành một thư mục mà python -m skin_core evaluate đọc "
        "được: mã bệnh nhân thay bằng bí danh chỉ dùng cho lần xuất này, mọi ngày của một bệnh nhân dời sớm hơn "
        "cùng một số ngày ngẫu nhiên, không có tên, ghi chú hay nhãn tổn thương, ảnh không kèm thông tin máy chụp. "
        "Tệp README.txt bên trong cho biết những gì bị bỏ ra."),
    "prepare_research_export": ("Prepare the de-identified export", "Chuẩn bị bản xuất ẩn danh"),
    "download_research_export": ("Download the de-identified export (ZIP)", "Tải bản xuất ẩn danh (ZIP)"),
    "audit_delete_patient": ("deleted a patient's data", "xóa dữ liệu của một bệnh nhân"),
    "audit_download_pdf": ("downloaded a PDF report", "tải báo cáo PDF"),
    "history_error": ("The case history could not do this: {reason}", "Lịch sử ca bệnh không thực hiện được: {reason}"),
}

SEX_NAMES = {"male": ("male", "nam"), "female": ("female", "nữ"), "unknown": ("unknown", "không rõ")}
SITE_NAMES = {
    "abdomen": ("abdomen", "bụng"), "acral": ("acral (palms, soles)", "đầu chi (lòng bàn tay, bàn chân)"),
    "back": ("back", "lưng"), "chest": ("chest", "ngực"), "ear": ("ear", "tai"), "face": ("face", "mặt"),
    "foot": ("foot", "bàn chân"), "genital": ("genital", "sinh dục"), "hand": ("hand", "bàn tay"),
    "lower extremity": ("lower extremity", "chi dưới"), "neck": ("neck", "cổ"), "scalp": ("scalp", "da đầu"),
    "trunk": ("trunk", "thân mình"), "upper extremity": ("upper extremity", "chi trên"),
    "unknown": ("unknown", "không rõ"),
}
assert set(SEX_NAMES) == set(SEXES) and set(SITE_NAMES) == set(SITES)
NOUNS = {  # count(): English singular, English plural, Vietnamese (no plural form)
    "case": ("{n} case", "{n} cases", "{n} ca"),
    "confirmed_case": ("{n} confirmed case", "{n} confirmed cases", "{n} ca đã xác nhận"),
    "pass": ("{n} pass", "{n} passes", "{n} lượt"),
    "core": ("{n} processor core", "{n} processor cores", "{n} lõi xử lý"),
    "gpu": ("a graphics card (GPU)", "{n} graphics cards (GPUs)", "{n} card đồ họa (GPU)"),
}


def t(key: str, language: str = "en", **values) -> str:
    """The string ``key`` in ``language`` ("en" or "vi"), its values written as that language writes numbers
    and dates (``formatted``): a format spec such as {probability:.0%} in a string works in both."""
    english, vietnamese = STRINGS[key]
    text = vietnamese if language == "vi" else english
    return _LocalFormatter(language).format(text, **values) if values else text


class _LocalFormatter(Formatter):
    def __init__(self, language: str):
        self.language = language

    def format_field(self, value, format_spec: str) -> str:
        return formatted(value, self.language, format_spec)


MISSING = "—"  # what a table cell or a sentence shows for a value nobody gave, never "None"
_LOCALES = {"en": "en", "vi": "vi"}
# st.date_input and date columns are drawn by the browser from a pattern of their own, not through Babel. One
# pattern in both languages, the clinic's day/month/year: Streamlit resets a date field whose pattern changes,
# so a per-language pattern would drop a date the doctor chose when the language is switched.
DATE_WIDGET_FORMAT = "DD/MM/YYYY"


def formatted(value, language: str = "en", spec: str = "") -> str:
    """A number or date as ``language`` writes it, through Babel (0.26 and 4,546,744 in English, 0,26 and
    4.546.744 in Vietnamese). ``spec`` is Python's format spec: ".0%" a percentage, ".2f" a decimal, "," an
    integer with grouping, "" or "g" the number as it is. A percentage that rounds to 0 or 100 without being it
    reads "< 1%" or "> 99%": a model's probability is never certain, and a doctor reads "100%" as certain.
    Dates: ISO in English (5/4/2026 is ambiguous between countries), Vietnamese order (4/5/2026) in Vietnamese;
    date-times add the time of day. None is MISSING."""
    locale = _LOCALES.get(language, "en")
    if value is None:
        return MISSING
    if isinstance(value, datetime.datetime):  # spec "seconds": with the seconds (the audit log)
        time = format_skeleton("Hms" if spec == "seconds" else "Hm", value, locale=locale)
        return f"{formatted(value.date(), language)} {time}"
    if isinstance(value, datetime.date):
        return value.isoformat() if locale == "en" else format_skeleton("yMd", value, locale=locale)
    if not isinstance(value, Number) or isinstance(value, bool) or spec[-1:] not in ("%", "f", ",", "g", ""):
        return format(value, spec)
    digits = int(spec[1:-1] or 0) if spec[:1] == "." else 0
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    if spec.endswith("%"):
        shown = format_percent(value, pattern + "%", locale=locale)
        step = 10 ** -digits / 100  # the smallest step shown
        if 0 < value and shown == format_percent(0, pattern + "%", locale=locale):
            return "< " + format_percent(step, pattern + "%", locale=locale)
        if value < 1 and shown == format_percent(1, pattern + "%", locale=locale):
            return "> " + format_percent(1 - step, pattern + "%", locale=locale)
        return shown
    if spec.endswith("f"):
        return format_decimal(value, pattern, locale=locale)
    if spec == "," or isinstance(value, float):
        return format_decimal(value, locale=locale)
    return str(value)  # an integer without grouping: a case number, a seed, a count in a sentence


def count(n: int, noun: str, language: str = "en") -> str:
    """``n`` and the noun in the right number: "1 case", "2 cases"; Vietnamese nouns have no plural form."""
    one, many, vietnamese = NOUNS[noun]
    text = vietnamese if language == "vi" else one if n == 1 else many
    return text.format(n=formatted(n, language, ","))


_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_TYPOGRAPHY = re.compile(r"(?<!\S)[<>=~-]{2,3}(?!\S)")  # "->", "--", "<=" ... between spaces


def literal(text) -> str:
    """User-entered text (patient code, lesion, clinic, names, file names) for st.markdown, captions, alerts and
    labels, so that it shows exactly as typed: every ASCII punctuation character is backslash-escaped (no link,
    image, emphasis, $LaTeX$ or :color[...] directive), and the few patterns Streamlit still rewrites in plain
    text after that (":smile:" shortcodes, ":streamlit:", "->" arrows) are split by an invisible word joiner."""
    text = _TYPOGRAPHY.sub(lambda found: "\u2060".join(found.group()), str(text))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace(":", ":\u2060")


_BACKBONE_SPELLING = ((re.compile(r"\b(EfficientNet|MobileNetV3)(?=Lite|Small|Large)"), r"\1-"),
                      (re.compile(r"(?<=Large)Minimalistic\b"), " (minimalistic)"))
# The words of the bundles' display names (config.json holds them in English), in Vietnamese; the released
# models have their own names in both languages (weights/catalogue.json).
_DISPLAY_WORDS = {"vi": (
    ("Ensemble: ", "Kết hợp: "), ("3 models", "3 mô hình"), ("no colour constancy", "không cân bằng màu"),
    ("colour constancy", "cân bằng màu"), ("+ ISIC 2017 training photos", "+ ảnh huấn luyện ISIC 2017"),
    ("continued on HAM10000 only", "huấn luyện tiếp chỉ trên HAM10000"), ("zoom-out", "ảnh chụp xa hơn"),
    ("no metadata", "không dùng thông tin bệnh nhân"), ("no soft attention", "không có Soft-Attention"),
    ("unweighted loss", "hàm mất mát không trọng số"), ("4 epochs", "4 vòng huấn luyện"), ("minimalistic", "tối giản"))}


def model_label(name: str, display_name: str | None = None, language: str = "en") -> str:
    """What a doctor reads for the bundle ``name``: a released model's name in ``language`` (weights/catalogue.json),
    else its config's display name (its words translated), read from the bundle when not given, or the folder
    name when the bundle has none or is gone; the backbones spelled one way everywhere ("EfficientNet-Lite2",
    never "EfficientNetLite2"). A backbone alone: model_label(backbone, backbone)."""
    try:
        catalogue = read_catalogue()
    except BundleError:
        catalogue = None
    if catalogue is not None and name in catalogue.names:
        display_name = catalogue.names[name][language]
    elif display_name is None:
        try:
            display_name = open_bundle(name).config.display_name
        except BundleError:
            display_name = ""
    label = display_name or name
    for pattern, replacement in _BACKBONE_SPELLING:
        label = pattern.sub(replacement, label)
    if catalogue is None or name not in catalogue.names:
        for english, translated in _DISPLAY_WORDS.get(language, ()):
            label = label.replace(english, translated)
    return label


def audit_action(action: str, language: str = "en") -> str:
    """An audit-log action in words; an action this table does not know yet keeps its stored name."""
    key = f"audit_{action}"
    return t(key, language) if key in STRINGS else action


# The fields of an audit entry's stored detail (JSON written by skin_core.cases), in words.
_AUDIT_FIELDS = {"patient_code": ("patient", "bệnh nhân"), "from": ("from", "từ"), "to": ("to", "đến"),
                 "diagnosis": ("diagnosis", "chẩn đoán"), "alert": ("alert", "cảnh báo"),
                 "unconfirmed": ("unconfirmed only", "chỉ ca chưa xác nhận"), "found": ("found", "tìm thấy"),
                 "cases": ("cases", "ca"), "photos": ("with photos", "kèm ảnh"),
                 "photo_storage": ("photo storage", "lưu ảnh"), "auto_save": ("save automatically", "tự động lưu"),
                 "model": ("model", "mô hình"), "version": ("version", "phiên bản"),
                 "threshold": ("threshold", "ngưỡng"), "malignant": ("malignant", "ác tính"),
                 "benign": ("benign", "lành tính"), "exported": ("photos exported", "ảnh đã xuất"),
                 "patients": ("patients", "bệnh nhân"), "no_photo": ("without a kept photo", "không còn ảnh"),
                 "outside_classes": ("outside the seven classes", "ngoài bảy lớp")}
_CONFIRMED_DETAIL = re.compile(r"^(\w+) \((\w+), (\d{4}-\d{2}-\d{2})\)$")  # "mel (histopathology, 2026-12-04)"


def audit_detail(action: str, detail: str, language: str = "en") -> str:
    """An audit entry's stored detail in words and in ``language``: JSON fields named, numbers, dates and
    diagnoses written as the page writes them; a detail of a form not known here is shown as stored."""
    if not detail:
        return MISSING
    try:
        fields = json.loads(detail)
    except ValueError:
        fields = None
    if isinstance(fields, dict):
        parts = []
        for key, value in fields.items():
            if value in ("", None, False, [], "any") or key not in _AUDIT_FIELDS:
                continue
            name = _AUDIT_FIELDS[key][language == "vi"]
            if value is True or value == "true":
                parts.append(name)
            elif isinstance(value, list):
                parts.append(f"{name} {', '.join(f'#{v}' for v in value)}")
            elif key == "model":
                parts.append(f"{name} {model_label(value, language=language)}")
            elif isinstance(value, (int, float)):
                parts.append(f"{name} {formatted(value, language, ',' if isinstance(value, int) else '.3f')}")
            else:
                parts.append(f"{name} {value}")
        return "; ".join(parts) or MISSING
    confirmed = _CONFIRMED_DETAIL.match(detail) if action == "confirm" else None
    if confirmed and confirmed[1] in BY_CODE:
        code, source, day = confirmed.groups()
        return (f"{short_diagnosis_name(code, language)} ({t(f'source_{source}', language)}, "
                f"{formatted(datetime.date.fromisoformat(day), language)})")
    if detail.startswith("patient ") and action in ("save", "delete_patient"):
        return f"{_AUDIT_FIELDS['patient_code'][language == 'vi']} {detail.removeprefix('patient ')}"
    if action == "clinic_validation" and re.fullmatch(r"\d+ confirmed cases", detail):
        return count(int(detail.split()[0]), "confirmed_case", language)
    if action == "edit_note" and detail.startswith("version "):
        number, _, unchanged = detail.removeprefix("version ").partition(", ")
        kept = f" ({t('unchanged', language)})" if unchanged else ""
        return t("audit_note_version", language, number=number) + kept
    return detail


def alert_figures(prediction, language: str = "en") -> dict:
    """The malignant classes' share and the alert threshold as a sentence writes them: whole percents, or
    tenths (then hundredths) where whole ones would read alike though one lies above the other ("48% reach
    the threshold 48%" would hide what decided the alert)."""
    probability, threshold = prediction.malignant_probability, prediction.malignancy_threshold
    for digits in range(3):
        spec = f".{digits}%"
        if probability == threshold or formatted(probability, language, spec) != formatted(threshold, language, spec):
            break
    return {"probability": formatted(probability, language, spec), "threshold": formatted(threshold, language, spec)}


def diagnosis_name(code: str, language: str = "en") -> str:
    return BY_CODE[code].name(language)


def short_diagnosis_name(code: str, language: str = "en") -> str:
    """The name without its bracketed gloss ("Melanoma", "U hắc tố ác tính"): for chart axes and beside a code."""
    return diagnosis_name(code, language).split(" (")[0]


def external_summary(report, language: str = "en") -> str:
    """How the model did on photos from other clinics that chose nothing (a report-only set, else one whose role
    is not recorded), in words, from its BundleReport. Tuning sets are left out: the text says the photos were
    never used for tuning."""
    untuned = [name for name in report.external if EXTERNAL_ROLES.get(name) != "tuning"]
    if not untuned:
        return t("no_external", language)
    name = min(untuned, key=lambda name: EXTERNAL_ROLES.get(name) != "report_only")  # report-only first
    other = report.external[name]
    return t("external_results", language, name=data_set_name(name, language), n=other.n,
             balanced_accuracy=other.balanced_accuracy, internal=report.test.balanced_accuracy,
             mel_recall=other.melanoma_recall, threshold=other.malignant.threshold,
             sensitivity=other.malignant.sensitivity, specificity=other.malignant.specificity)


def data_set_name(name: str, language: str = "en") -> str:
    """A data set in words: its folder name (e.g. isic2017_test) means nothing to a doctor. The names are the
    strings keyed by folder name; a set this table does not know yet keeps its folder name."""
    return t(name, language) if name in STRINGS else name


def operating_point_text(config, language: str = "en") -> str:
    """How the bundle's malignancy threshold was chosen, in words; empty when its config does not record it."""
    point = config.operating_point
    if point is None:
        return ""
    bound = "" if point.confidence is None else t("threshold_bound", language, confidence=point.confidence)
    margin = t("threshold_margin", language, as_is=point.threshold_as_is) if point.exposure_margin else ""
    return t("threshold_chosen", language, target=point.target_sensitivity, bound=bound, margin=margin)


def gate_finding(decision) -> str:
    """What the input check saw, as the suffix of its string keys: the quality problem or the reason."""
    return decision.problem or decision.reason


def sex_name(sex: str, language: str = "en") -> str:
    return SEX_NAMES[sex][language == "vi"]


def site_name(site: str, language: str = "en") -> str:
    return SITE_NAMES[site][language == "vi"]
