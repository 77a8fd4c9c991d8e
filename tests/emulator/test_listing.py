"""Listing jobs: newest first, cursor pages with has_more, metadata filters ANDed together,
metadata=null, and limits."""

from urllib.parse import parse_qsl

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI

from tests.harness import Emulator, chat_jsonl, upload


def create_jobs(client: OpenAI, metadata: list[dict[str, str] | None]) -> list[str]:
    training_file = upload(client, chat_jsonl())
    return [
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, metadata=m
        ).id
        for m in metadata
    ]


def test_default_page_is_20_newest_first_and_has_more_is_always_present(
    client: OpenAI, emu: Emulator
) -> None:
    ids = create_jobs(client, [None] * 21)
    first = emu.raw().get("fine_tuning/jobs").json()
    assert [job["id"] for job in first["data"]] == ids[::-1][:20]
    assert first["has_more"] is True and "first_id" not in first
    last = emu.raw().get("fine_tuning/jobs", params={"after": ids[1]}).json()
    assert [job["id"] for job in last["data"]] == [ids[0]]
    assert last["has_more"] is False
    assert emu.raw().get("fine_tuning/jobs", params={"after": ids[0]}).json() == {
        "object": "list",
        "data": [],
        "has_more": False,
    }


def test_metadata_filters_must_all_match(client: OpenAI, emu: Emulator) -> None:
    search_prod, search_dev, ads_prod, bare = create_jobs(
        client,
        [
            {"team": "search", "env": "prod"},
            {"team": "search", "env": "dev"},
            {"team": "ads", "env": "prod"},
            None,
        ],
    )
    listed = client.fine_tuning.jobs.list(metadata={"team": "search"})
    assert [j.id for j in listed] == [search_dev, search_prod]
    assert [
        j.id for j in client.fine_tuning.jobs.list(metadata={"team": "search", "env": "prod"})
    ] == [search_prod]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"env": "prod"})] == [
        ads_prod,
        search_prod,
    ]
    assert list(client.fine_tuning.jobs.list(metadata={"team": "search", "env": "staging"})) == []
    assert (
        list(client.fine_tuning.jobs.list(metadata={"team": "Search"})) == []
    )  # values match exactly
    # The SDK sends the filter as metadata[k]=v, the deepObject style of the spec.
    query = dict(parse_qsl(emu.requests()[-1]["query"]))
    assert query == {"metadata[team]": "Search"}
    assert {j.id for j in client.fine_tuning.jobs.list()} == {
        search_prod,
        search_dev,
        ads_prod,
        bare,
    }


def test_metadata_null_lists_jobs_without_metadata(client: OpenAI) -> None:
    tagged, bare, empty = create_jobs(client, [{"k": "v"}, None, {}])
    untagged = client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [j.id for j in untagged] == [empty, bare]
    assert tagged not in {j.id for j in untagged}


def test_metadata_filter_matches_an_empty_value_and_special_characters(client: OpenAI) -> None:
    empty_value, odd = create_jobs(
        client, [{"note": ""}, {"ftctl/address": "openai_fine_tuning_job.a[0]"}]
    )
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"note": ""})] == [empty_value]
    found = client.fine_tuning.jobs.list(metadata={"ftctl/address": "openai_fine_tuning_job.a[0]"})
    assert [j.id for j in found] == [odd]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"after": "ftjob-nosuchjob"},
        {"metadata": "nothing"},
        {"metadata": "null", "metadata[k]": "v"},
    ],
)
def test_bad_list_queries_are_400(emu: Emulator, query: dict[str, str]) -> None:
    response = emu.raw().get("fine_tuning/jobs", params=query)
    assert response.status_code == 400
    assert response.json()["error"]["param"] in {"limit", "after", "metadata"}


def test_limit_100_is_the_largest_page(client: OpenAI) -> None:
    create_jobs(client, [None] * 3)
    assert len(client.fine_tuning.jobs.list(limit=100).data) == 3
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.list(limit=101)
    assert caught.value.param == "limit"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(count=st.integers(min_value=0, max_value=30), limit=st.integers(min_value=1, max_value=12))
def test_auto_pagination_yields_every_job_once_for_any_page_size(
    emu: Emulator, client: OpenAI, count: int, limit: int
) -> None:
    emu.reset()
    ids = create_jobs(client, [None] * count)
    assert [j.id for j in client.fine_tuning.jobs.list(limit=limit)] == ids[::-1]
