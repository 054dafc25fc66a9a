"""Model cards: intended use, data, split, measured metrics, calibration, limits and citations."""

from dataclasses import asdict

import pandas as pd
import streamlit as st

from skin_core.bundle import SPLIT_FILE, evaluated_bundles, read_catalogue
from ui import comparison
from ui.i18n import MISSING, count, external_summary, formatted, model_label, operating_point_text, t
from ui.state import language, model_name

lang = language()
st.title(t("page_about", lang))
st.caption(t("about_intro", lang))
st.warning(t("disclaimer", lang))
evaluated = evaluated_bundles()
if not evaluated:
    st.info(t("no_metrics", lang))
labels = comparison.model_labels(evaluated, lang)  # two bundles never share a title
catalogue = read_catalogue()
replaced = {b.config.supersedes for b in evaluated if b.config.supersedes}


def status(bundle) -> str:
    """Released for diagnosis, an older version, research only, or clinical but not offered."""
    if catalogue is not None and bundle.name in catalogue.released:
        return t("status_released", lang)
    if bundle.name in replaced:
        return t("status_older", lang)
    return t("research" if not bundle.config.clinical else "status_not_offered", lang)


for bundle in evaluated:
    config, report, card = bundle.config, bundle.report, bundle.config.model_card
    with st.expander(f"{labels[bundle.name]} · {status(bundle)}", expanded=bundle.name == model_name()):
        st.caption(t("report_model", lang, name=bundle.name, version=bundle.release))
        if config.clinical:
            st.markdown(f"**{t('intended_use', lang)}**: {card.text('intended_use', lang)}")
        else:
            st.warning(t("research_variant", lang, variant=t(config.variant, lang)))
        split = pd.read_csv(bundle.path / SPLIT_FILE)["split"].value_counts()
        st.markdown(f"**{t('training_data', lang)}**: " + t(
            "training_data_text", lang, data=card.text("data", lang), seed=config.training.arguments.get("seed", 0),
            train=split.get("train", 0), val=split.get("val", 0), test=split.get("test", 0)))
        parts = [t(key, lang) for key, on in (("with_sa", config.soft_attention),
                                               ("with_metadata", config.metadata),
                                               ("with_weighted_loss", config.weighted_loss)) if on]
        height, width = config.input_size
        if config.is_ensemble:
            st.markdown(f"**{t('architecture', lang)}**: " + t(
                "ensemble_text" if len(config.members) > 1 else "framed_member_text", lang,
                members=", ".join(model_label(member, language=lang) for member in config.members),
                lead=model_label(config.members[0], language=lang),
                parameters=config.parameters))
        else:
            st.markdown(f"**{t('architecture', lang)}**: " + t(
                "architecture_text", lang, backbone=model_label(config.backbone, config.backbone),
                parts=", ".join(parts) or MISSING,
                height=height, width=width, parameters=config.parameters))
        if config.framing is not None:
            st.markdown(t("framing_text", lang, target=config.framing.target, below=config.framing.apply_below))
        test = report.test
        st.markdown(f"**{t('test_metrics', lang, n=test.n)}**")
        st.dataframe(pd.DataFrame({t("metric", lang): [t(m, lang) for m in comparison.SUMMARY_METRICS],
                                   t("value", lang): [formatted(getattr(test, m), lang, ".3f")
                                                      for m in comparison.SUMMARY_METRICS]}),
                     hide_index=True)
        if test.malignant.auc is not None:
            st.markdown(" ".join(filter(None, (t("malignant_figures", lang, **asdict(test.malignant)),
                                               operating_point_text(config, lang)))))
        before = test.ece if report.ece_before_calibration is None else report.ece_before_calibration
        st.markdown(t("calibration_text", lang, temperature=config.temperature, before=before, after=test.ece))
        if report.image_only is not None:
            st.markdown(t("image_only_text", lang, value=report.image_only.balanced_accuracy,
                          full=test.balanced_accuracy))
        training = config.training
        if not config.is_ensemble:  # an ensemble trains nothing itself; its members' cards say how they were
            cores, gpus = count(training.hardware.get("cpu_count", 0), "core", lang), training.hardware.get("gpus", [])
            hardware = (t("hardware_gpu", lang, cores=cores, gpus=count(len(gpus), "gpu", lang)) if gpus
                        else t("hardware_cpu", lang, cores=cores))
            st.markdown(t("training_text", lang, passes=count(training.epochs_run, "pass", lang),
                          minutes=training.wall_time_s / 60, hardware=hardware))
        st.markdown(f"**{t('external_heading', lang)}**: {external_summary(report, lang)}")
        gate = report.gate
        if gate:
            inside, outside = gate.in_distribution, gate.out_of_distribution
            external = inside.get("isic2017_test")
            st.markdown(t("gate_card", lang, threshold=gate.threshold, internal=inside["internal_test"].flagged,
                          external=formatted(None if external is None else external.flagged, lang, ".1%"),
                          clinical=outside["A_clinical"].flagged, nonskin=outside["B_nonskin"].flagged,
                          medical=outside["C_medical"].flagged))
        else:
            st.markdown(t("no_gate", lang))
        st.markdown(f"**{t('limits', lang)}**: {card.text('limits', lang)}")

st.subheader(t("citations", lang))
for citation in dict.fromkeys(c for bundle in evaluated for c in bundle.config.model_card.citations):
    st.markdown(f"- {citation}")
