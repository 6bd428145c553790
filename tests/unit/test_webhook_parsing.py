"""Parsing and authenticating Magic Hour webhook deliveries (pipeline.webhook.webhook_delivery)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import http
from pipeline.jobs import errors
from pipeline.webhook import webhook_delivery
from pipeline.webhook.signature import sign

SECRET = "whsec_unit_secret"
NOW = 1_729_314_984


@pytest.fixture(autouse=True)
def _clean_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "test")


def delivery(event_type: str, **payload: Any) -> bytes:
    return json.dumps(
        {"type": event_type, "payload": {"id": "cm2fphlo3000dmfhu8m0dh63z", **payload}}
    ).encode()


def refused(raw: bytes) -> errors.RequestRefused:
    with pytest.raises(errors.RequestRefused) as caught:
        webhook_delivery.parse(raw)
    return caught.value


ALL_TYPES = [
    ("video.started", "video", "started"),
    ("video.completed", "video", "completed"),
    ("video.errored", "video", "errored"),
    ("image.started", "image", "started"),
    ("image.completed", "image", "completed"),
    ("image.errored", "image", "errored"),
    ("audio.started", "audio", "started"),
    ("audio.completed", "audio", "completed"),
    ("audio.errored", "audio", "errored"),
]


@pytest.mark.parametrize(("event_type", "kind", "event"), ALL_TYPES)
def test_each_event_type_parses_with_its_kind_and_event(event_type: str, kind: str, event: str) -> None:
    parsed = webhook_delivery.parse(delivery(event_type, name="fox [job_x]", status="rendering"))
    assert parsed.type == event_type
    assert parsed.kind == kind
    assert parsed.event == event
    assert parsed.payload.id == "cm2fphlo3000dmfhu8m0dh63z"
    assert parsed.payload.name == "fox [job_x]"


def test_completed_payload_keeps_downloads_and_credits() -> None:
    raw = delivery(
        "video.completed",
        status="complete",
        credits_charged=450,
        downloads=[
            {
                "url": "https://videos.magichour.ai/id/output.mp4?sig=abc",
                "expires_at": "2024-10-19T05:16:19.027Z",
            },
            {"url": "https://videos.magichour.ai/id/output-2.mp4"},
        ],
    )
    parsed = webhook_delivery.parse(raw)
    assert parsed.payload.credits_charged == 450
    assert [d.url for d in parsed.payload.downloads] == [
        "https://videos.magichour.ai/id/output.mp4?sig=abc",
        "https://videos.magichour.ai/id/output-2.mp4",
    ]
    assert parsed.payload.downloads[1].expires_at is None


def test_errored_payload_keeps_the_error() -> None:
    parsed = webhook_delivery.parse(
        delivery("image.errored", error={"code": "no_source_face", "message": "none"})
    )
    assert parsed.payload.error is not None
    assert parsed.payload.error.code == "no_source_face"


def test_errored_payload_with_null_error_parses() -> None:
    parsed = webhook_delivery.parse(delivery("audio.errored", error=None))
    assert parsed.payload.error is None


def test_extra_unknown_fields_are_tolerated_everywhere() -> None:
    raw = json.dumps(
        {
            "type": "video.completed",
            "delivered_at": "2026-01-01",
            "payload": {
                "id": "p1",
                "total_frame_cost": 450,
                "download": None,
                "type": "FACE_SWAP",
                "error": {"code": "x", "message": "y", "hint": "z"},
                "downloads": [{"url": "https://videos.magichour.ai/a.mp4", "size": 12}],
            },
        }
    ).encode()
    parsed = webhook_delivery.parse(raw)
    assert parsed.payload.id == "p1"
    assert parsed.payload.downloads[0].url == "https://videos.magichour.ai/a.mp4"


@pytest.mark.parametrize(
    "event_type", ["video.finished", "VIDEO.COMPLETED", "video", "", "project.completed"]
)
def test_unknown_type_is_400_unknown_event(event_type: str) -> None:
    error = refused(delivery(event_type))
    assert isinstance(error, errors.UnknownEvent)


def test_missing_type_is_400_unknown_event() -> None:
    error = refused(json.dumps({"payload": {"id": "p1"}}).encode())
    assert isinstance(error, errors.UnknownEvent)


@pytest.mark.parametrize("raw", [b"not json", b"{", b"", b"\xff"])
def test_non_json_is_400_invalid_json(raw: bytes) -> None:
    error = refused(raw)
    assert isinstance(error, errors.MalformedBody)


@pytest.mark.parametrize("raw", [b"[]", b'[{"type":"video.completed","payload":{"id":"p1"}}]', b"null", b"7"])
def test_json_that_is_not_an_object_is_400_invalid_json(raw: bytes) -> None:
    error = refused(raw)
    assert isinstance(error, errors.MalformedBody)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"type": "video.completed", "payload": {}}).encode(),
        json.dumps({"type": "video.completed", "payload": {"id": ""}}).encode(),
        json.dumps({"type": "video.completed", "payload": {"id": None}}).encode(),
        json.dumps({"type": "video.completed"}).encode(),
    ],
)
def test_missing_payload_id_is_400(raw: bytes) -> None:
    error = refused(raw)
    assert isinstance(error, errors.InvalidEvent)


def test_malformed_downloads_is_400_with_details() -> None:
    error = refused(delivery("video.completed", downloads=[{"expires_at": "x"}]))
    assert isinstance(error, errors.InvalidEvent)
    assert error.details
    assert any("downloads" in detail["loc"] for detail in error.details)


def emitted(out: str, metric: str) -> list[dict[str, Any]]:
    """The EMF records of `metric` among what the code printed."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [r for r in records if metric in r]


def test_parse_failure_is_counted(capsys: pytest.CaptureFixture[str]) -> None:
    refused(b"[]")
    assert [r["outcome"] for r in emitted(capsys.readouterr().out, "Webhooks")] == ["malformed"]


def test_body_over_1_mb_is_413_before_any_signature_work(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(webhook_delivery, "verify", lambda *args, **kwargs: calls.append(args))
    raw = b"x" * (1024 * 1024 + 1)
    with pytest.raises(errors.RequestRefused) as caught:
        webhook_delivery.authenticate(raw, str(NOW), sign(SECRET, str(NOW), raw), [SECRET], NOW, 300)
    assert isinstance(caught.value, errors.BodyTooLarge)
    assert calls == []


def test_body_of_exactly_1_mb_is_verified() -> None:
    raw = b"x" * (1024 * 1024)
    webhook_delivery.authenticate(raw, str(NOW), sign(SECRET, str(NOW), raw), [SECRET], NOW, 300)


def test_authenticate_accepts_a_good_signature() -> None:
    raw = delivery("video.completed")
    webhook_delivery.authenticate(raw, str(NOW), sign(SECRET, str(NOW), raw), [SECRET], NOW, 300)


def test_authenticate_maps_a_bad_signature_to_401(capsys: pytest.CaptureFixture[str]) -> None:
    raw = delivery("video.completed")
    with pytest.raises(errors.RequestRefused) as caught:
        webhook_delivery.authenticate(raw, str(NOW), "0" * 64, [SECRET], NOW, 300)
    assert isinstance(caught.value, errors.SignatureRejected)
    assert SECRET not in str(http.error_response(caught.value).body)
    assert [r["outcome"] for r in emitted(capsys.readouterr().out, "Webhooks")] == ["signature_rejected"]


def test_authenticate_uses_the_given_tolerance() -> None:
    raw = delivery("video.completed")
    signature = sign(SECRET, str(NOW), raw)
    with pytest.raises(errors.RequestRefused) as caught:
        webhook_delivery.authenticate(raw, str(NOW), signature, [SECRET], NOW + 61, 60)
    assert isinstance(caught.value, errors.SignatureRejected)
