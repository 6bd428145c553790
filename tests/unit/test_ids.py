"""Job ids and the job-id tag carried in Magic Hour's project name (pipeline.platform.ids)."""

from __future__ import annotations

import re

import pytest

from pipeline.platform import ids

ID_SHAPE = re.compile(r"^job_[a-z2-7]{26}$")


def test_new_job_id_has_the_documented_shape() -> None:
    job_id = ids.new_job_id()
    assert ID_SHAPE.match(job_id)
    assert ids.is_job_id(job_id)
    assert len(job_id) == 30


def test_new_job_ids_are_unique() -> None:
    assert len({ids.new_job_id() for _ in range(200)}) == 200


def test_idempotent_job_id_has_the_same_shape() -> None:
    job_id = ids.job_id_for_idempotency_key("client-a", "key-1")
    assert ID_SHAPE.match(job_id)
    assert ids.is_job_id(job_id)


def test_idempotent_job_id_is_deterministic_per_client_and_key() -> None:
    assert ids.job_id_for_idempotency_key("client-a", "key-1") == ids.job_id_for_idempotency_key(
        "client-a", "key-1"
    )


def test_idempotent_job_id_differs_across_clients_and_keys() -> None:
    produced = {
        ids.job_id_for_idempotency_key("client-a", "key-1"),
        ids.job_id_for_idempotency_key("client-b", "key-1"),
        ids.job_id_for_idempotency_key("client-a", "key-2"),
        # The separator keeps ("ab", "c") apart from ("a", "bc").
        ids.job_id_for_idempotency_key("ab", "c"),
        ids.job_id_for_idempotency_key("a", "bc"),
    }
    assert len(produced) == 5


@pytest.mark.parametrize(
    "value",
    [
        "job_" + "a" * 25,
        "job_" + "a" * 27,
        "job_" + "A" * 26,
        "job_" + "1" * 26,  # 0, 1, 8 and 9 are not base32 letters
        "JOB_" + "a" * 26,
        "jb_" + "a" * 26,
        " job_" + "a" * 26,
        "job_" + "a" * 26 + "\n",
        "",
    ],
)
def test_is_job_id_refuses_malformed_ids(value: str) -> None:
    assert not ids.is_job_id(value)


def test_project_name_round_trip() -> None:
    job_id = ids.new_job_id()
    name = ids.project_name_for(job_id, "My holiday video")
    assert name == f"My holiday video [{job_id}]"
    assert ids.job_id_from_project_name(name) == job_id


def test_long_label_is_truncated_but_keeps_the_tag() -> None:
    job_id = ids.new_job_id()
    name = ids.project_name_for(job_id, "x" * 1000)
    assert len(name) == ids.MAGIC_HOUR_NAME_MAX
    assert name.endswith(f" [{job_id}]")
    assert ids.job_id_from_project_name(name) == job_id


def test_label_of_exactly_the_room_left_is_not_truncated() -> None:
    job_id = ids.new_job_id()
    room = ids.MAGIC_HOUR_NAME_MAX - len(f" [{job_id}]")
    name = ids.project_name_for(job_id, "y" * room)
    assert name == "y" * room + f" [{job_id}]"


def test_label_carrying_a_forged_tag_cannot_redirect_the_project() -> None:
    mine = ids.new_job_id()
    victim = ids.new_job_id()
    name = ids.project_name_for(mine, f"innocent [{victim}]")
    assert ids.job_id_from_project_name(name) == mine


def test_tag_followed_by_trailing_whitespace_is_still_found() -> None:
    job_id = ids.new_job_id()
    assert ids.job_id_from_project_name(f"label [{job_id}]  ") == job_id


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "Face Swap - 2024-10-19",
        "plain label job_abcdefghijklmnopqrstuvwxyz",  # no brackets
        "label [job_abcdefghijklmnopqrstuvwxy]",  # 25 chars
        "label [job_abcdefghijklmnopqrstuvwxyz2]",  # 27 chars
        "label [job_ABCDEFGHIJKLMNOPQRSTUVWXYZ]",  # upper case
        "label [job_abcdefghijklmnopqrstuvwx01]",  # not base32
        "label [jab_abcdefghijklmnopqrstuvwxyz]",
        "label [job_abcdefghijklmnopqrstuvwxyz] after",  # tag not at the end
        "label (job_abcdefghijklmnopqrstuvwxyz)",
    ],
)
def test_names_without_a_valid_trailing_tag_give_none(name: str | None) -> None:
    assert ids.job_id_from_project_name(name) is None
