"""The documented webhook signature algorithm and its test vector."""

from __future__ import annotations

import hmac

from local.simulator import webhook_signature
from local.simulator.signing import wrong_webhook_signature

VECTOR_BODY = (
    b'{"type":"video.completed","payload":{"id":"clx7uu86w0a5qp55yxz315r6r","status":"complete",'
    b'"downloads":[{"url":"https://videos.magichour.ai/id/output.mp4","expires_at":"2024-10-19T05:16:19.027Z"}]}}'
)
VECTOR_SIGNATURE = "6413d4e5b1d64eddd4f4833b150852074140952da7dd9d297682b5cad65f512d"


def test_documented_test_vector() -> None:
    assert webhook_signature("whsec_test_secret", "1729314984", VECTOR_BODY) == VECTOR_SIGNATURE
    assert webhook_signature("whsec_test_secret", 1729314984, VECTOR_BODY) == VECTOR_SIGNATURE


def test_wrong_signature_is_well_formed_but_does_not_verify() -> None:
    bad = wrong_webhook_signature("whsec_test_secret", "1729314984", VECTOR_BODY)
    assert len(bad) == 64
    assert bad == bad.lower()
    int(bad, 16)
    assert not hmac.compare_digest(bad, VECTOR_SIGNATURE)
