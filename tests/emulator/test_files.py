"""Files API: upload, list, retrieve, content and delete through the real SDK."""

import openai
import pytest
from openai import OpenAI

from ftctl.emulator.service import Settings
from tests.harness import Emulator, chat_jsonl, served_in_thread, upload


def test_upload_then_retrieve_and_download_give_back_the_same_file(
    client: OpenAI, emu: Emulator
) -> None:
    content = chat_jsonl(12)
    uploaded = client.files.create(file=("train.jsonl", content), purpose="fine-tune")

    assert uploaded.id.startswith("file-") and len(uploaded.id) == len("file-") + 24
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose) == (
        len(content),
        "train.jsonl",
        "fine-tune",
    )
    assert uploaded.created_at == emu.now()
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).read() == content


def test_upload_keeps_expiry_from_expires_after(client: OpenAI, emu: Emulator) -> None:
    uploaded = client.files.create(
        file=("train.jsonl", chat_jsonl()),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert uploaded.expires_at == uploaded.created_at + 3600


@pytest.mark.parametrize(
    ("name", "purpose", "param"),
    [
        ("train.txt", "fine-tune", "file"),
        ("train.csv", "fine-tune", "file"),
        ("train.jsonl", "fine-tuning", "purpose"),
        ("train.jsonl", "assistants_output", "purpose"),
    ],
)
def test_upload_rejects_wrong_extension_or_purpose(
    client: OpenAI, name: str, purpose: str, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=(name, chat_jsonl()), purpose=purpose)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert client.files.list().data == []


def test_upload_rejects_expiry_outside_the_documented_range(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("train.jsonl", chat_jsonl()),
            purpose="fine-tune",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert caught.value.param == "expires_after.seconds"


def test_default_upload_limit_is_512_megabytes() -> None:
    assert Settings().max_upload_bytes == 512 * 1024 * 1024


def test_upload_over_the_limit_is_rejected_and_at_the_limit_accepted() -> None:
    # The same rule as the 512 MB default, on a small limit so the test moves kilobytes.
    limit = 2048
    with served_in_thread(Settings(max_upload_bytes=limit)) as emu:
        client = emu.client()
        at_limit = client.files.create(file=("a.jsonl", b"x" * limit), purpose="fine-tune")
        assert at_limit.bytes == limit
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.create(file=("b.jsonl", b"x" * (limit + 1)), purpose="fine-tune")
        assert caught.value.param == "file"
        assert [f.id for f in client.files.list()] == [at_limit.id]


def test_list_orders_filters_and_paginates(client: OpenAI) -> None:
    ids = [upload(client, chat_jsonl(), f"f{i}.jsonl") for i in range(5)]
    batch = upload(client, chat_jsonl(), "batch.jsonl", purpose="batch")

    newest_first = client.files.list()
    assert [f.id for f in newest_first.data] == [batch, *reversed(ids)]
    assert (newest_first.first_id, newest_first.last_id) == (batch, ids[0])
    assert newest_first.has_more is False

    oldest_first = client.files.list(order="asc", purpose="fine-tune", limit=2)
    assert [f.id for f in oldest_first.data] == ids[:2]
    assert oldest_first.has_more is True
    assert [f.id for f in client.files.list(order="asc", purpose="fine-tune", limit=2)] == ids


def test_empty_list_has_null_ends_and_no_more(client: OpenAI) -> None:
    page = client.files.list()
    assert (page.data, page.first_id, page.last_id, page.has_more) == ([], None, None, False)


def test_delete_removes_the_file_and_a_second_delete_is_404(client: OpenAI) -> None:
    file_id = upload(client, chat_jsonl())
    deleted = client.files.delete(file_id)
    assert (deleted.id, deleted.deleted, deleted.object) == (file_id, True, "file")
    for call in (client.files.retrieve, client.files.delete, client.files.content):
        with pytest.raises(openai.NotFoundError) as caught:
            call(file_id)
        assert caught.value.param == "id"
        assert caught.value.message == f"Error code: 404 - No such File object: {file_id}"


def test_deleting_files_while_paging_through_them_keeps_the_cursor_valid(client: OpenAI) -> None:
    ids = [upload(client, chat_jsonl(), f"f{i}.jsonl") for i in range(5)]
    for listed in client.files.list(limit=2):
        client.files.delete(listed.id)
    assert client.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(ids[0])


def test_a_malformed_multipart_upload_is_a_400_that_says_why(emu: Emulator) -> None:
    response = emu.raw().post(
        "files", content=b"garbage", headers={"content-type": "multipart/form-data"}
    )
    assert response.status_code == 400
    assert "Invalid URL" not in response.json()["error"]["message"]
