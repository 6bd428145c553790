"""JSON shapes: the project as Magic Hour's GET returns it, and as /_sim/ shows it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from local.simulator.content import file_sha256
from local.simulator.ids import iso_timestamp
from local.simulator.signing import UrlSigner
from local.simulator.state import OutputFile, Project

FILES_PREFIX = "/_files"
UPLOADS_PREFIX = "/_uploads"


class UrlFactory:
    """Builds and checks the signed URLs the simulator serves itself (downloads and uploads)."""

    def __init__(self, signer: UrlSigner) -> None:
        self._signer = signer
        self.base_url = ""  # set once the server has bound its port

    def signed(self, path: str, expire_seconds: float, now: float) -> tuple[str, float]:
        # Millisecond expiry keeps short test expiries exact; the nonce makes every URL fresh even
        # when two GETs land in the same millisecond, as Magic Hour's re-signed URLs would be.
        expires_at = now + expire_seconds
        expires_ms = int(expires_at * 1000)
        nonce = secrets.token_hex(8)
        query = urlencode(
            {"expires": expires_ms, "nonce": nonce, "sig": self._signer.sign(path, expires_ms, nonce)}
        )
        return f"{self.base_url}{path}?{query}", expires_at

    def check(self, path: str, args: Mapping[str, str], now: float) -> str | None:
        """None when the URL is genuine and current, else the reason to refuse it (403)."""
        try:
            expires_ms = int(args.get("expires", ""))
        except ValueError:
            return "Invalid signature"
        nonce = args.get("nonce", "")
        if not self._signer.verify(path, expires_ms, nonce, args.get("sig", "")):
            return "Invalid signature"
        if now * 1000 > expires_ms:
            return "Request has expired"
        return None

    def download(self, project: Project, output: OutputFile, now: float) -> dict[str, str]:
        path = f"{FILES_PREFIX}/{project.id}/{output.index}/{output.filename(project.id)}"
        url, expires_at = self.signed(path, project.scenario.download_expire_seconds, now)
        return {"url": url, "expires_at": iso_timestamp(expires_at)}


def api_project(project: Project, urls: UrlFactory, now: float | None = None) -> dict[str, Any]:
    """The GET /v1/<kind>-projects/{id} body, including the deprecated fields the SDK requires.

    Call with the store lock held so the project cannot change half way through.
    """
    moment = time.time() if now is None else now
    downloads = [urls.download(project, output, moment) for output in project.available_outputs]
    error = dict(project.error) if project.error is not None else None
    common: dict[str, Any] = {
        "id": project.id,
        "name": project.name,
        "status": project.status,
        "type": project.project_type,
        "created_at": iso_timestamp(project.created_at),
        "enabled": not project.deleted,
    }
    if project.kind == "video":
        video = project.video
        assert video is not None  # every video project is created with its VideoInfo
        return {
            **common,
            "width": video.width,
            "height": video.height,
            "start_seconds": video.start_seconds,
            "end_seconds": video.end_seconds,
            "total_frame_cost": project.credits_charged,
            "credits_charged": project.credits_charged,
            "fps": video.fps,
            "error": error,
            "downloads": downloads,
            "download": downloads[0] if downloads else None,
        }
    if project.kind == "image":
        return {
            **common,
            "image_count": len(project.outputs),
            "total_frame_cost": project.credits_charged,
            "credits_charged": project.credits_charged,
            "downloads": downloads,
            "error": error,
        }
    return {**common, "credits_charged": project.credits_charged, "downloads": downloads, "error": error}


def create_answer(project: Project) -> dict[str, Any]:
    """The 200 body of a create; the deprecated cost field differs per kind and the SDK needs it."""
    answer: dict[str, Any] = {"id": project.id}
    if project.kind == "video":
        answer["estimated_frame_cost"] = project.credits_quoted
    elif project.kind == "image":
        answer["frame_cost"] = project.credits_quoted
    answer["credits_charged"] = project.credits_quoted
    return answer


def sim_project_snapshot(project: Project) -> dict[str, Any]:
    """The /_sim/ view minus hashes; taken under the store lock, hashed outside it."""
    return {
        "id": project.id,
        "tool": project.tool,
        "kind": project.kind,
        "type": project.project_type,
        "name": project.name,
        "status": project.status,
        "created_at": iso_timestamp(project.created_at),
        "updated_at": iso_timestamp(project.updated_at),
        "credits_charged": project.credits_charged,
        "deleted": project.deleted,
        "error": dict(project.error) if project.error is not None else None,
        # Planned outputs are listed for complete-bound projects even before they finish, so a test
        # can learn the expected hashes early; error and canceled projects never have files.
        "outputs": [
            {
                "index": output.index,
                "size_bytes": output.size_bytes,
                "extension": output.extension,
                "content_type": output.content_type,
                "download_requests": project.download_requests.get(output.index, 0),
            }
            for output in project.outputs
            if project.scenario.outcome == "complete" and not any(item.failed for item in project.inputs)
        ],
        "inputs": [item.to_json() for item in project.inputs],
        "webhook_events": list(project.events),
        "scenario": project.scenario.to_json(),
        "request": project.body,
    }


def add_hashes(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Fills in each output's sha256 (streams the file once, then cached)."""
    for output in snapshot["outputs"]:
        output["sha256"] = file_sha256(snapshot["id"], output["index"], output["size_bytes"])
    return snapshot
