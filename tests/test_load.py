"""Several doctors at once against `streamlit run app.py` (the load test at a small size; the full figures
come from `python -m ui.loadtest --users 16`)."""

import json

from test_browser import require_browser
from ui.loadtest import main as loadtest_main


def test_every_doctor_gets_a_result_when_clicking_analyse_right_after_the_upload(capsys):
    require_browser()
    assert loadtest_main(["--users", "3", "--timeout", "120", "--settle", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["users"] == 3 and figures["no_answer"] == [] and figures["results"] == 3
    assert 0 < figures["median_s"] <= figures["p95_s"]
