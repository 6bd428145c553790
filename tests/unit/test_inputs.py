"""Inputs from S3 (pipeline.create.inputs): uploads, the check of s3:// inputs at submit, and the
copy of the input Magic Hour gets. S3 is faked at the store seam; presigning is boto3's own (local)."""

from __future__ import annotations

import io
import json
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from pipeline.create import inputs
from pipeline.jobs import errors
from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.models.api import CreateUploadRequest
from pipeline.platform.settings import Settings
from pipeline.store import inputs as input_store
from pipeline.store import upload_counts
from pipeline.submit import uploads
from pipeline.submit.validation import parse_submission
from tests.fakes import FakeMagicHour, FakeUsage

BUCKET = "pipeline-inputs"
SHARED = "shared-media"
UPLOAD = f"s3://{BUCKET}/uploads/client-a/{'a' * 32}.mp4"
OTHERS_UPLOAD = f"s3://{BUCKET}/uploads/client-b/{'b' * 32}.png"


class FakeS3:
    """Objects by (bucket, key); buckets in `denied` answer 403 like S3 without ListBucket."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], int] = {}
        self.denied: set[str] = set()
        self.heads: list[tuple[str, str]] = []

    def put(self, uri: str, size: int = 1000) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.objects[(bucket, key)] = size

    def head(self, bucket: str, key: str) -> input_store.InputObject | None:
        self.heads.append((bucket, key))
        if bucket in self.denied:
            raise input_store.InputUnreadable(bucket)
        size = self.objects.get((bucket, key))
        return None if size is None else input_store.InputObject(size, "video/mp4")


MAX_UPLOAD = 50_000
QUOTA = 3


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> FakeUsage:
    fake = FakeUsage()
    monkeypatch.setattr(upload_counts, "count_one", fake.count_upload)
    return fake


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, counts: FakeUsage) -> FakeS3:
    fake = FakeS3()
    monkeypatch.setattr(input_store, "head", fake.head)
    settings = Settings(
        input_bucket_name=BUCKET,
        input_bucket_names=[SHARED],
        input_url_ttl_seconds=7200,
        max_upload_bytes=MAX_UPLOAD,
        daily_upload_quota=QUOTA,
    )
    monkeypatch.setattr(inputs, "get_settings", lambda: settings)
    monkeypatch.setattr(uploads, "get_settings", lambda: settings)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return fake


def face_swap(video: str, image: str = "https://example.com/face.png") -> dict[str, Any]:
    return {
        "start_seconds": 0,
        "end_seconds": 4,
        "assets": {"video_source": "file", "video_file_path": video, "image_file_path": image},
    }


def problems(s3: FakeS3, tool_input: dict[str, Any], client: str = "client-a") -> dict[tuple[Any, ...], str]:
    return {problem.loc: problem.msg for problem in inputs.check_s3_inputs(client, tool_input)}


# -- check_s3_inputs ---------------------------------------------------------------------------


def test_an_existing_upload_of_the_client_passes(s3: FakeS3) -> None:
    s3.put(UPLOAD)
    assert problems(s3, face_swap(UPLOAD)) == {}
    assert s3.heads == [(BUCKET, UPLOAD.split("/", 3)[3])]


def test_a_missing_upload_names_the_field(s3: FakeS3) -> None:
    found = problems(s3, face_swap(UPLOAD))
    assert list(found) == [("body", "input", "assets", "video_file_path")]
    assert "PUT the file" in found[("body", "input", "assets", "video_file_path")]


def test_another_clients_upload_is_refused_without_asking_s3(s3: FakeS3) -> None:
    s3.put(OTHERS_UPLOAD)
    found = problems(s3, face_swap(OTHERS_UPLOAD))
    assert list(found) == [("body", "input", "assets", "video_file_path")]
    assert "not an upload of this client" in next(iter(found.values()))
    assert "client-b" not in next(iter(found.values()))
    assert s3.heads == []


@pytest.mark.parametrize(
    "key",
    [
        "other/thing.mp4",  # outside uploads/
        f"uploads/client-a/../client-b/{'b' * 32}.png",  # climbs into another prefix
        "uploads/client-a/chosen-name.mp4",  # not a name we issued
        f"uploads/client-ab/{'a' * 32}.mp4",  # a prefix that merely starts like ours
    ],
)
def test_only_keys_we_issued_to_the_client_pass_in_the_input_bucket(s3: FakeS3, key: str) -> None:
    s3.put(f"s3://{BUCKET}/{key}")
    assert problems(s3, face_swap(f"s3://{BUCKET}/{key}")) != {}


def test_client_ids_are_encoded_so_no_client_can_name_anothers_prefix(s3: FakeS3) -> None:
    upload = f"s3://{BUCKET}/uploads/a%2Fb/{'c' * 32}.mp4"
    s3.put(upload)
    assert problems(s3, face_swap(upload), client="a/b") == {}
    assert problems(s3, face_swap(upload), client="a") != {}


def test_an_allowed_bucket_is_open_to_every_client(s3: FakeS3) -> None:
    shared = f"s3://{SHARED}/library/intro.mp4"
    s3.put(shared)
    assert problems(s3, face_swap(shared), client="client-a") == {}
    assert problems(s3, face_swap(shared), client="client-b") == {}


def test_a_bucket_not_allowed_is_refused_without_asking_s3(s3: FakeS3) -> None:
    found = problems(s3, face_swap("s3://someone-elses-bucket/secret.mp4"))
    assert (
        "not one this deployment reads inputs from" in found[("body", "input", "assets", "video_file_path")]
    )
    assert s3.heads == []


def test_a_denied_object_is_refused_not_an_error(s3: FakeS3) -> None:
    s3.denied.add(SHARED)
    found = problems(s3, face_swap(f"s3://{SHARED}/x.mp4"))
    assert "may not read it" in found[("body", "input", "assets", "video_file_path")]


def test_an_empty_object_is_refused(s3: FakeS3) -> None:
    s3.put(UPLOAD, size=0)
    assert "empty" in problems(s3, face_swap(UPLOAD))[("body", "input", "assets", "video_file_path")]


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://bucket-only",
        "s3://Bad_Bucket/key.mp4",
        "s3:///key.mp4",
        f"s3://{SHARED}/lone-\udd9c.mp4",
        f"s3://{SHARED}/" + "k" * 1025,
    ],
)
def test_malformed_s3_uris_are_refused(s3: FakeS3, uri: str) -> None:
    found = problems(s3, face_swap(uri))
    assert "s3://<bucket>/<key>" in found[("body", "input", "assets", "video_file_path")]


def test_every_file_field_at_any_depth_is_checked_and_others_are_not(s3: FakeS3) -> None:
    tool_input = {
        "assets": {
            "image_file_paths": ["https://example.com/a.png", "s3://nope-bucket/b.png"],
            "face_mappings": [{"original_face": "0-0.png", "new_face": "s3://nope-bucket/c.png"}],
            "deep": {"audio_file_path": "s3://nope-bucket/d.mp3"},
        },
        "style": {"prompt": "s3://nope-bucket/not-a-file-field"},
    }
    assert set(problems(s3, tool_input)) == {
        ("body", "input", "assets", "image_file_paths", 1),
        ("body", "input", "assets", "face_mappings", 0, "new_face"),
        ("body", "input", "assets", "deep", "audio_file_path"),
    }


def test_each_distinct_object_is_asked_about_once(s3: FakeS3) -> None:
    s3.put(UPLOAD)
    problems(s3, face_swap(UPLOAD, image=UPLOAD))
    assert len(s3.heads) == 1


def test_parse_submission_answers_422_with_the_field_and_writes_nothing(s3: FakeS3) -> None:
    raw = json.dumps({"tool": "face-swap", "input": face_swap(OTHERS_UPLOAD)}).encode()
    with pytest.raises(errors.RequestRefused) as caught:
        parse_submission("client-a", raw, None, True)
    assert isinstance(caught.value, errors.ValidationFailed)
    assert [detail["loc"] for detail in caught.value.details or []] == [
        ["body", "input", "assets", "video_file_path"]
    ]


def test_the_fingerprint_is_of_the_s3_values(s3: FakeS3) -> None:
    s3.put(UPLOAD)
    raw = json.dumps({"tool": "face-swap", "input": face_swap(UPLOAD)}).encode()
    first = parse_submission("client-a", raw, "k", True)
    second = parse_submission("client-a", raw, "k", True)
    assert first.fingerprint == second.fingerprint
    assert first.request.input["assets"]["video_file_path"] == UPLOAD


# -- for_magic_hour ----------------------------------------------------------------------------


def test_for_magic_hour_presigns_s3_values_and_leaves_the_rest(s3: FakeS3) -> None:
    original = face_swap(UPLOAD)
    original["assets"]["image_file_paths"] = [f"s3://{SHARED}/a.PNG", "https://example.com/b.png"]
    original["style"] = {"prompt": "s3://not/a-file-field"}
    given = inputs.for_magic_hour(original)

    url = urlsplit(given["assets"]["video_file_path"])
    assert url.scheme == "https"
    assert url.path.endswith("/uploads/client-a/" + "a" * 32 + ".mp4")
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["7200"]
    assert query["response-content-type"] == ["video/mp4"]
    assert parse_qs(urlsplit(given["assets"]["image_file_paths"][0]).query)["response-content-type"] == [
        "image/png"
    ]
    assert given["assets"]["image_file_paths"][1] == "https://example.com/b.png"
    assert given["assets"]["image_file_path"] == "https://example.com/face.png"
    assert given["style"] == {"prompt": "s3://not/a-file-field"}
    # The caller's input (what the job keeps) is untouched.
    assert original["assets"]["video_file_path"] == UPLOAD


def test_for_magic_hour_copies_an_input_without_s3_values_unchanged(s3: FakeS3) -> None:
    tool_input = {"a": 1, "b": [1, {"c": None, "x_file_path": "https://example.com/x.mp4"}]}
    assert inputs.for_magic_hour(tool_input) == tool_input
    assert inputs.for_magic_hour(tool_input) is not tool_input


# -- uploads -----------------------------------------------------------------------------------


def test_create_upload_is_scoped_to_the_client_and_signs_a_put(s3: FakeS3) -> None:
    upload = uploads.create_upload("client-a", CreateUploadRequest(extension="mp4"))
    assert upload.file_path.startswith(f"s3://{BUCKET}/uploads/client-a/")
    assert upload.file_path.endswith(".mp4")
    url = urlsplit(upload.upload_url)
    assert url.path.endswith(upload.file_path.split("/", 3)[3])
    assert "X-Amz-Signature" in parse_qs(url.query)
    assert upload.upload_headers == {}
    # What we issued is exactly what the check accepts for this client, and only for it.
    s3.put(upload.file_path)
    assert problems(s3, face_swap(upload.file_path)) == {}
    assert problems(s3, face_swap(upload.file_path), client="client-b") != {}


def test_a_signed_content_type_is_returned_as_a_header_to_send(s3: FakeS3) -> None:
    upload = uploads.create_upload("client-a", CreateUploadRequest(extension="png", content_type="image/png"))
    assert upload.upload_headers == {"Content-Type": "image/png"}
    assert "content-type" in parse_qs(urlsplit(upload.upload_url).query)["X-Amz-SignedHeaders"][0]


@pytest.mark.parametrize("extension", ["mp4", "MOV", "png", "jpeg", "mp3", "webm", "gif", "tif"])
def test_extensions_magic_hour_accepts_parse(extension: str) -> None:
    request = uploads.parse_upload_request(json.dumps({"extension": extension}).encode())
    assert request.extension == extension.lower()


@pytest.mark.parametrize("extension", ["exe", "txt", ".mp4", "mp4 ", "svg", "pdf"])
def test_other_extensions_are_refused_with_the_list(extension: str) -> None:
    with pytest.raises(errors.RequestRefused) as caught:
        uploads.parse_upload_request(json.dumps({"extension": extension}).encode())
    assert isinstance(caught.value, errors.ValidationFailed)
    (detail,) = caught.value.details or []
    assert detail["loc"] == ["body", "extension"]
    assert "mp4" in detail["msg"]
    assert "png" in detail["msg"]


@pytest.mark.parametrize(
    ("raw", "refusal"),
    [
        (b"not json", errors.MalformedBody),
        (b"[]", errors.MalformedBody),
        (b"{}", errors.ValidationFailed),
        (b'{"extension": 4}', errors.ValidationFailed),
        (b'{"extension": "mp4", "size": 1}', errors.ValidationFailed),
        (b'{"extension": "mp4", "content_type": "not a type"}', errors.ValidationFailed),
        (b'{"extension": "mp4", "content_type": "video/mp4\\r\\nx: y"}', errors.ValidationFailed),
        (b"{" + b" " * 5000 + b"}", errors.BodyTooLarge),
        # Strict JSON, as every client body: NaN is not JSON, so not a body with an unknown field.
        (b'{"extension": "mp4", "x": NaN}', errors.MalformedBody),
    ],
)
def test_bad_upload_requests_get_precise_errors(raw: bytes, refusal: type[errors.RequestRefused]) -> None:
    with pytest.raises(errors.RequestRefused) as caught:
        uploads.parse_upload_request(raw)
    assert type(caught.value) is refusal


def test_every_accepted_extension_has_a_media_type() -> None:
    assert set(inputs.ACCEPTED_EXTENSIONS) == set(inputs.MEDIA_TYPES)


# -- Magic Hour's own upload (MagicHourUploadMinBytes) -----------------------------------------


@pytest.fixture
def copying(s3: FakeS3, monkeypatch: pytest.MonkeyPatch) -> FakeMagicHour:
    settings = Settings(
        input_bucket_name=BUCKET, input_bucket_names=[SHARED], magic_hour_upload_min_bytes=1000
    )
    monkeypatch.setattr(inputs, "get_settings", lambda: settings)
    contents: dict[tuple[str, str], bytes] = {}

    def open_object(bucket: str, key: str) -> tuple[io.BytesIO, int]:
        if (bucket, key) not in s3.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        data = contents.setdefault((bucket, key), bytes(s3.objects[(bucket, key)]))
        return io.BytesIO(data), len(data)

    monkeypatch.setattr(input_store, "open_object", open_object)
    return FakeMagicHour()


def test_objects_at_the_threshold_are_copied_to_magic_hour_and_smaller_ones_presigned(
    s3: FakeS3, copying: FakeMagicHour
) -> None:
    big, small = f"s3://{SHARED}/big.png", f"s3://{SHARED}/small.png"
    s3.put(big, size=1000)
    s3.put(small, size=999)
    given = inputs.for_magic_hour(
        {"assets": {"image_file_path": big, "background_image_file_path": small}},
        cast(Any, copying),
    )
    assert given["assets"]["image_file_path"] == "api-assets/1/image.png"
    assert copying.put == [("https://storage.test/1", bytes(1000), 1000)]
    assert "X-Amz-Signature" in given["assets"]["background_image_file_path"]


def test_one_object_named_twice_is_copied_once(s3: FakeS3, copying: FakeMagicHour) -> None:
    big = f"s3://{SHARED}/big.mp4"
    s3.put(big, size=5000)
    given = inputs.for_magic_hour({"a_file_path": big, "b": [{"video_file_path": big}]}, cast(Any, copying))
    assert given["a_file_path"] == given["b"][0]["video_file_path"]
    assert len(copying.put) == 1


def test_without_a_magic_hour_client_everything_is_presigned(s3: FakeS3, copying: FakeMagicHour) -> None:
    big = f"s3://{SHARED}/big.mp4"
    s3.put(big, size=5000)
    assert "X-Amz-Signature" in inputs.for_magic_hour({"video_file_path": big})["video_file_path"]
    assert copying.put == []


def test_an_input_that_cannot_be_read_fails_like_a_create_that_sent_nothing(
    s3: FakeS3, copying: FakeMagicHour, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = f"s3://{SHARED}/big.mp4"
    s3.put(big, size=5000)
    monkeypatch.setattr(
        input_store,
        "open_object",
        lambda *_: (_ for _ in ()).throw(ClientError({"Error": {"Code": "SlowDown"}}, "GetObject")),
    )
    with pytest.raises(MagicHourUnavailable) as caught:
        inputs.for_magic_hour({"assets": {"video_file_path": big}}, cast(Any, copying))
    assert "video_file_path" in caught.value.message
    assert SHARED not in caught.value.message


@pytest.mark.parametrize(
    ("field", "extension", "expected"),
    [
        ("video_file_path", "webm", "video"),
        ("audio_file_path", "webm", "audio"),
        ("person_file_path", "png", "image"),
        ("new_face", "jpg", "image"),
        ("target_file_path", "mp4", "video"),
        ("video_file_path", "gif", "video"),
        ("image_file_path", "exe", None),
    ],
)
def test_the_asset_type_comes_from_the_field_then_the_extension(
    field: str, extension: str, expected: str | None
) -> None:
    assert inputs._asset_type(field, extension) == expected


def test_an_input_the_role_may_not_read_fails_like_a_create_that_sent_nothing(
    s3: FakeS3, copying: FakeMagicHour
) -> None:
    s3.denied.add(SHARED)
    with pytest.raises(MagicHourUnavailable):
        inputs.for_magic_hour({"assets": {"video_file_path": f"s3://{SHARED}/big.mp4"}}, cast(Any, copying))


# -- bounded uploads ---------------------------------------------------------------------------


def test_a_given_size_is_signed_into_the_put_as_its_content_length(s3: FakeS3) -> None:
    upload = uploads.create_upload("client-a", CreateUploadRequest(extension="mp4", size_bytes=4096))
    signed = parse_qs(urlsplit(upload.upload_url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-length" in signed
    assert upload.upload_headers == {"Content-Length": "4096"}
    unsized = uploads.create_upload("client-a", CreateUploadRequest(extension="mp4"))
    assert "content-length" not in parse_qs(urlsplit(unsized.upload_url).query)["X-Amz-SignedHeaders"][0]


@pytest.mark.parametrize("size", [MAX_UPLOAD + 1, 0, -1, "12", True, 12.0])
def test_a_size_over_the_limit_or_not_a_whole_positive_number_is_refused(s3: FakeS3, size: Any) -> None:
    body = json.dumps({"extension": "mp4", "size_bytes": size}).encode()
    with pytest.raises(errors.ValidationFailed) as refused:
        uploads.parse_upload_request(body)
    assert refused.value.details[0]["loc"] == ["body", "size_bytes"]


def test_the_size_limit_itself_is_accepted(s3: FakeS3) -> None:
    body = json.dumps({"extension": "mp4", "size_bytes": MAX_UPLOAD}).encode()
    assert uploads.parse_upload_request(body).size_bytes == MAX_UPLOAD


def test_an_upload_over_the_limit_is_refused_where_a_job_uses_it(s3: FakeS3) -> None:
    s3.put(UPLOAD, size=MAX_UPLOAD + 1)
    (problem,) = problems(s3, face_swap(UPLOAD)).values()
    assert f"limit of {MAX_UPLOAD}" in problem
    s3.put(UPLOAD, size=MAX_UPLOAD)
    assert problems(s3, face_swap(UPLOAD)) == {}


def test_an_object_of_an_allowed_bucket_is_not_bound_by_the_upload_limit(s3: FakeS3) -> None:
    s3.put(f"s3://{SHARED}/big.mp4", size=MAX_UPLOAD * 10)
    assert problems(s3, face_swap(f"s3://{SHARED}/big.mp4")) == {}


def test_the_daily_quota_refuses_the_next_upload_of_that_client_only(s3: FakeS3, counts: FakeUsage) -> None:
    for _ in range(QUOTA):
        uploads.create_upload("client-a", CreateUploadRequest(extension="png"))
    with pytest.raises(errors.UploadQuotaExceeded) as refused:
        uploads.create_upload("client-a", CreateUploadRequest(extension="png"))
    assert 0 < refused.value.retry_after_seconds <= 86400
    assert f"quota of {QUOTA} uploads" in refused.value.message
    uploads.create_upload("client-b", CreateUploadRequest(extension="png"))
    assert sorted(counts.uploads.values()) == [1, QUOTA]  # the refusal counted nothing
