"""A small burst through the local pipeline (the full 2,000-upload run is `python -m infra.burst`)."""
from infra.burst import main, run_burst


def test_small_burst_loses_nothing(capsys):
    summary = run_burst(n=60, threads=6, invalid_fraction=0.3)
    assert summary["results"] == summary["uploads"] == 60
    assert summary["uploads_without_exactly_one_result"] == 0
    assert summary["wrong_outcomes"] == 0
    assert summary["invalid"] > 0 and summary["valid"] > 0
    assert summary["handler_invocations"] == 60  # results raised no events
    assert summary["events_left"] == 0 and summary["failure_queue"] == 0


def test_burst_command_reports_pass(capsys):
    assert main(["--uploads", "12", "--threads", "3"]) == 0
    assert capsys.readouterr().out.strip().endswith("PASS")
