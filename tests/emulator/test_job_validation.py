"""Create-job validation through the real SDK: each rule is a 400 whose `param` names the
field, nothing is created, and the matching boundary values are accepted."""

from typing import Any

import openai
import pytest
from openai import OpenAI, omit

from tests.harness import (
    STRING_CHECK_GRADER,
    Emulator,
    chat_jsonl,
    jsonl,
    preference_example,
    reinforcement_example,
    upload,
)

SUPERVISED = "method.supervised.hyperparameters"
DPO = "method.dpo.hyperparameters"
RFT = "method.reinforcement.hyperparameters"


def supervised(**hyperparameters: Any) -> dict[str, Any]:
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}


def dpo(**hyperparameters: Any) -> dict[str, Any]:
    return {"type": "dpo", "dpo": {"hyperparameters": hyperparameters}}


def reinforcement(**hyperparameters: Any) -> dict[str, Any]:
    block = {"grader": STRING_CHECK_GRADER, "hyperparameters": hyperparameters}
    return {"type": "reinforcement", "reinforcement": block}


def wandb(project: str = "p", **extra: Any) -> dict[str, Any]:
    return {"type": "wandb", "wandb": {"project": project, **extra}}


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("model not fine-tunable", {"model": "gpt-2"}, "model"),
    ("ft model on an unknown base", {"model": "ft:gpt-2:acme::abcdefgh"}, "model"),
    ("empty suffix", {"suffix": ""}, "suffix"),
    ("suffix over 64", {"suffix": "s" * 65}, "suffix"),
    ("negative seed", {"seed": -1}, "seed"),
    ("seed over int32", {"seed": 2_147_483_648}, "seed"),
    ("n_epochs 0", {"method": supervised(n_epochs=0)}, f"{SUPERVISED}.n_epochs"),
    ("n_epochs 51", {"method": supervised(n_epochs=51)}, f"{SUPERVISED}.n_epochs"),
    ("n_epochs not whole", {"method": supervised(n_epochs=2.5)}, f"{SUPERVISED}.n_epochs"),
    ("n_epochs a string", {"method": supervised(n_epochs="3")}, f"{SUPERVISED}.n_epochs"),
    ("n_epochs a bool", {"method": supervised(n_epochs=True)}, f"{SUPERVISED}.n_epochs"),
    ("batch_size 0", {"method": supervised(batch_size=0)}, f"{SUPERVISED}.batch_size"),
    ("batch_size 257", {"method": supervised(batch_size=257)}, f"{SUPERVISED}.batch_size"),
    (
        "learning rate 0",
        {"method": supervised(learning_rate_multiplier=0)},
        f"{SUPERVISED}.learning_rate_multiplier",
    ),
    ("beta 0", {"method": dpo(beta=0)}, f"{DPO}.beta"),
    ("beta over 2", {"method": dpo(beta=2.01)}, f"{DPO}.beta"),
    (
        "compute over 10",
        {"method": reinforcement(compute_multiplier=10.5)},
        f"{RFT}.compute_multiplier",
    ),
    ("compute 0", {"method": reinforcement(compute_multiplier=0)}, f"{RFT}.compute_multiplier"),
    ("eval_interval 0", {"method": reinforcement(eval_interval=0)}, f"{RFT}.eval_interval"),
    ("eval_samples 0", {"method": reinforcement(eval_samples=0)}, f"{RFT}.eval_samples"),
    ("beta on supervised", {"method": supervised(beta=0.1)}, f"{SUPERVISED}.beta"),
    ("legacy n_epochs 0", {"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
    (
        "hyperparameters twice",
        {"hyperparameters": {"n_epochs": 2}, "method": supervised(n_epochs=3)},
        "hyperparameters",
    ),
    ("unknown method", {"method": {"type": "rlhf"}}, "method.type"),
    (
        "sub-block of another method",
        {"method": {"type": "dpo", "supervised": {"hyperparameters": {}}}},
        "method.supervised",
    ),
    (
        "reinforcement without grader",
        {"method": {"type": "reinforcement", "reinforcement": {}}},
        "method.reinforcement.grader",
    ),
    (
        "grader of unknown type",
        {"method": {"type": "reinforcement", "reinforcement": {"grader": {"type": "vibes"}}}},
        "method.reinforcement.grader.type",
    ),
    ("17 metadata pairs", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ("metadata key over 64", {"metadata": {"k" * 65: "v"}}, "metadata"),
    ("metadata value over 512", {"metadata": {"k": "v" * 513}}, "metadata"),
    ("metadata value not a string", {"metadata": {"k": 1}}, "metadata"),
    ("6 integrations", {"integrations": [wandb(f"p{i}") for i in range(6)]}, "integrations"),
    (
        "51 wandb tags",
        {"integrations": [wandb(tags=[f"t{i}" for i in range(51)])]},
        "integrations[0].wandb.tags",
    ),
    (
        "grader missing a field",
        {
            "method": {
                "type": "reinforcement",
                "reinforcement": {"grader": {"type": "python", "name": "g"}},
            }
        },
        "method.reinforcement.grader.source",
    ),
    (
        "integration without project",
        {"integrations": [{"type": "wandb", "wandb": {}}]},
        "integrations[0].wandb",
    ),
]


@pytest.mark.parametrize(("case", "arguments", "param"), REJECTED, ids=[r[0] for r in REJECTED])
def test_invalid_request_is_400_naming_the_field_and_creates_nothing(
    client: OpenAI, emu: Emulator, case: str, arguments: dict[str, Any], param: str
) -> None:
    training_file = upload(client, chat_jsonl())
    call: dict[str, Any] = {"model": "gpt-4o-mini", "training_file": training_file, **arguments}
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(**call)
    error = caught.value
    assert (error.status_code, error.param, error.type) == (400, param, "invalid_request_error")
    assert client.fine_tuning.jobs.list().data == []
    # Not retried: a 400 is final, so the SDK sent exactly one create.
    assert [
        r["retry_count"]
        for r in emu.requests()
        if r["method"] == "POST" and r["path"].endswith("/jobs")
    ] == [0]


def test_missing_model_or_training_file_is_400_naming_it(client: OpenAI) -> None:
    training_file = upload(client, chat_jsonl())
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=omit, training_file=training_file)  # type: ignore[arg-type]
    assert caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=omit)  # type: ignore[arg-type]
    assert caught.value.param == "training_file"


def test_unknown_or_wrong_purpose_files_are_rejected(client: OpenAI) -> None:
    good = upload(client, chat_jsonl())
    batch = upload(client, chat_jsonl(), "batch.jsonl", purpose="batch")
    cases = [
        ({"training_file": "file-doesnotexist"}, "training_file"),
        ({"training_file": batch}, "training_file"),
        ({"training_file": good, "validation_file": "file-doesnotexist"}, "validation_file"),
        ({"training_file": good, "validation_file": batch}, "validation_file"),
    ]
    for arguments, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            client.fine_tuning.jobs.create(model="gpt-4o-mini", **arguments)
        assert caught.value.param == param, arguments
    assert client.fine_tuning.jobs.list().data == []


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "16 metadata pairs of 64/512 characters",
        {"metadata": {f"{i:064d}": "v" * 512 for i in range(16)}},
    ),
    ("64-character suffix", {"suffix": "s" * 64}),
    ("seed 0", {"seed": 0}),
    ("seed 2**31-1", {"seed": 2_147_483_647}),
    ("n_epochs 1, batch 256", {"method": supervised(n_epochs=1, batch_size=256)}),
    ("n_epochs 50", {"method": supervised(n_epochs=50, learning_rate_multiplier=0.01)}),
    ("legacy hyperparameters", {"hyperparameters": {"n_epochs": 2}}),
    ("5 integrations", {"integrations": [wandb(f"p{i}", tags=["t" * 64]) for i in range(5)]}),
]


@pytest.mark.parametrize(("case", "arguments"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_boundary_values_are_accepted_and_echoed(
    client: OpenAI, case: str, arguments: dict[str, Any]
) -> None:
    training_file = upload(client, chat_jsonl())
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file, **arguments
    )
    body = job.model_dump()
    for key, value in arguments.items():
        if key == "method":
            assert (
                body["method"]["supervised"]["hyperparameters"]
                | value["supervised"]["hyperparameters"]
                == (body["method"]["supervised"]["hyperparameters"])
            )
        elif key == "hyperparameters":
            assert body["method"]["supervised"]["hyperparameters"]["n_epochs"] == value["n_epochs"]
        elif key == "integrations":
            assert [i["wandb"]["project"] for i in body["integrations"]] == [
                i["wandb"]["project"] for i in value
            ]
        elif key == "suffix":
            assert getattr(job, "user_provided_suffix") == value  # noqa: B009  (an extra field)
        else:
            assert body[key] == value
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


def test_dpo_and_reinforcement_with_boundary_hyperparameters_are_accepted(client: OpenAI) -> None:
    preferences = upload(client, jsonl([preference_example(i) for i in range(10)]))
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=preferences, method=dpo(beta=2)
    )
    assert job.method is not None and job.method.dpo is not None
    assert job.method.dpo.hyperparameters is not None and job.method.dpo.hyperparameters.beta == 2

    tasks = upload(client, jsonl([reinforcement_example(i) for i in range(10)]))
    rft = client.fine_tuning.jobs.create(
        model="o4-mini",
        training_file=tasks,
        validation_file=tasks,
        method=reinforcement(compute_multiplier=10, eval_interval=1, eval_samples=1),
    )
    assert rft.model == "o4-mini-2025-04-16"
    assert rft.method is not None and rft.method.reinforcement is not None
    assert rft.method.reinforcement.grader.type == "string_check"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.fine_tuning.jobs.retrieve("ftjob-missing"),
        lambda c: c.fine_tuning.jobs.cancel("ftjob-missing"),
        lambda c: c.fine_tuning.jobs.pause("ftjob-missing"),
        lambda c: c.fine_tuning.jobs.resume("ftjob-missing"),
        lambda c: c.fine_tuning.jobs.list_events("ftjob-missing"),
        lambda c: c.fine_tuning.jobs.checkpoints.list("ftjob-missing"),
    ],
    ids=["retrieve", "cancel", "pause", "resume", "events", "checkpoints"],
)
def test_unknown_job_is_404_with_param_id(client: OpenAI, call: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        call(client)
    assert (caught.value.param, caught.value.type) == ("id", "invalid_request_error")


def test_unknown_request_argument_is_rejected(client: OpenAI) -> None:
    training_file = upload(client, chat_jsonl())
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, extra_body={"epochs": 3}
        )
    assert caught.value.param == "epochs"


def test_body_that_is_not_json_is_400(emu: Emulator) -> None:
    response = emu.raw().post(
        "fine_tuning/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "gpt-4o-mini", "training_file": "f", "seed": NaN}',
        b'{"model": "gpt-4o-mini", "training_file": "f", "method": {"type": "reinforcement",'
        b' "reinforcement": {"grader": {"type": "python", "name": "g", "source": "x"},'
        b' "response_format": Infinity}}}',
        b'{"model": "gpt-4o-mini", "training_file": "f", "suffix": 1e400}',
    ],
    ids=["NaN", "Infinity", "overflow"],
)
def test_non_finite_numbers_are_refused_and_poison_nothing(
    emu: Emulator, client: OpenAI, body: bytes
) -> None:
    response = emu.raw().post(
        "fine_tuning/jobs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "finite" in response.json()["error"]["message"]
    clock = emu.control.post(
        "/_emulator/clock/advance",
        content=b'{"seconds": NaN}',
        headers={"content-type": "application/json"},
    )
    assert clock.status_code == 400
    assert client.fine_tuning.jobs.list().data == []
    assert emu.control.get("/_emulator/health").status_code == 200
