"""The campaign's report leads with the promises and says plainly when a case failed."""

from datetime import UTC, datetime

from tests.reliability.campaign import Campaign


def test_the_report_sums_each_promise_and_lists_small_sections_case_by_case() -> None:
    campaign = Campaign()
    campaign.record("crash", "before:1", "survived", duplicates=0, lost_jobs=0, kills=1)
    campaign.record("crash", "after:2", "FAILED", duplicates=2, lost_jobs=1, kills=1)
    report = campaign.render(datetime(2026, 1, 1, tzinfo=UTC), passed=False)
    assert "| duplicates | 2 |" in report and "| lost jobs | 1 |" in report
    assert "| tracebacks | 0 |" in report
    assert "SOME CASES FAILED" in report
    assert "2 cases: 1 FAILED, 1 survived." in report
    assert "| after:2 | FAILED | duplicates 2, lost jobs 1, kills 1 |" in report


def test_a_section_with_many_cases_gives_totals_by_kind_and_outcome() -> None:
    campaign = Campaign()
    for index in range(100):
        campaign.record("bad-input", f"config:{index}", "diagnostic", api_requests=0)
    for index in range(20):
        campaign.record("bad-input", f"jsonl:{index}", "still-valid", api_requests=3)
    report = campaign.render(datetime(2026, 1, 1, tzinfo=UTC), passed=True)
    assert "120 cases: 100 diagnostic, 20 still-valid." in report
    assert "config:7" not in report
    assert "| config | diagnostic | 100 | 0 |" in report
    assert "| jsonl | still-valid | 20 | 60 |" in report
    assert "every case passed" in report
