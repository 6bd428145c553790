"""The secret path segment of the webhook route: `POST /webhooks/magic-hour/{token}`.

Magic Hour's deliveries are authenticated by their signature; the token in the URL only keeps an
anonymous caller, who does not know it, off the route Magic Hour is registered with. A wrong token
is answered exactly as a route that does not exist (no hint that this one does), and compared in
constant time: digests of the same length, every accepted token compared, none short-circuited.
"""

from __future__ import annotations

import hashlib
import hmac


def _digest(token: str) -> bytes:
    # Hashing first makes the comparison independent of the tokens' lengths too.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def accepted(candidate: str, tokens: list[str]) -> bool:
    """Whether the path's token is one of the accepted ones (the current and, during a rotation,
    the previous); no token accepted when the secret holds none."""
    presented = _digest(candidate)
    matched = False
    for token in tokens:
        # `|` rather than `or`: the time taken does not say which token matched.
        matched |= bool(token) and hmac.compare_digest(presented, _digest(token))
    return matched
