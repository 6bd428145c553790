"""The create endpoints, driven by the product's tool catalogue instead of one route per tool."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from local.simulator.schema import Validator, compile_schema, validate
from pipeline.magic_hour.catalogue import find_tool
from pipeline.magic_hour.rates import Rate, rate_of

Kind = Literal["video", "image", "audio"]

# Magic Hour's `type` values for the spec's tools; anything newer falls back to the upper-cased name,
# which is fine because clients are told to treat `type` as opaque.
_PROJECT_TYPES: dict[str, str] = {
    "ai-talking-photo": "TALKING_PHOTO",
    "ai-video-editor": "VIDEO_EDITOR",
    "animation": "ANIMATION",
    "audio-to-video": "AUDIO_TO_VIDEO",
    "auto-subtitle-generator": "AUTO_SUBTITLE",
    "character-replace": "CHARACTER_REPLACE",
    "face-swap": "FACE_SWAP",
    "image-to-video": "IMAGE_TO_VIDEO",
    "lip-sync": "LIP_SYNC",
    "text-to-video": "TEXT_TO_VIDEO",
    "video-to-video": "VIDEO_TO_VIDEO",
    "ai-clothes-changer": "CLOTHES_CHANGER",
    "ai-face-editor": "FACE_EDITOR",
    "ai-gif-generator": "AI_GIF",
    "ai-headshot-generator": "AI_HEADSHOT",
    "ai-image-editor": "AI_IMAGE_EDITOR",
    "ai-image-generator": "AI_IMAGE",
    "ai-image-upscaler": "IMAGE_UPSCALER",
    "ai-meme-generator": "AI_MEME",
    "ai-qr-code-generator": "QR_CODE",
    "body-swap": "BODY_SWAP",
    "face-swap-photo": "FACE_SWAP",
    "head-swap": "HEAD_SWAP",
    "image-background-remover": "BACKGROUND_REMOVER",
    "photo-colorizer": "PHOTO_COLORIZER",
    "ai-voice-generator": "VOICE_GENERATOR",
    "ai-voice-cloner": "VOICE_CLONER",
}

_DEFAULT_EXTENSION: dict[Kind, str] = {"video": "mp4", "image": "png", "audio": "mp3"}
CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "png": "image/png",
    "gif": "image/gif",
    "mp3": "audio/mpeg",
}

_MAX_IMAGE_COUNT = 16
# Credits beyond this lose precision in JSON (JavaScript numbers), so no real bill can be that large.
MAX_CREDITS = 2**53 - 1
DEFAULT_FPS = 30.0
DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 720


class Unprocessable(ValueError):
    """A valid body Magic Hour still cannot take (its 422 "Unable to create <kind>")."""


@dataclass(frozen=True)
class Tool:
    name: str
    kind: Kind
    project_type: str
    schema: dict[str, Any]

    def output_extension(self, body: dict[str, Any]) -> str:
        # The GIF tool can be asked for mp4/webm; every other tool has one natural format per kind.
        fmt = body.get("output_format")
        if self.name == "ai-gif-generator":
            return fmt if isinstance(fmt, str) and fmt in CONTENT_TYPES else "gif"
        return _DEFAULT_EXTENSION[self.kind]

    def output_count(self, body: dict[str, Any], scenario_outputs: int) -> int:
        count = body.get("image_count")
        if self.kind != "image" or isinstance(count, bool) or not isinstance(count, int | float):
            return scenario_outputs
        # Schemas bound image_count (1..16, or an enum of them); these guards only keep a body the
        # schema let through from making an absurd number of files.
        if count != int(count) or not 1 <= count <= _MAX_IMAGE_COUNT:
            raise Unprocessable(f"image_count must be a whole number from 1 to {_MAX_IMAGE_COUNT}")
        return int(count)

    def credits(self, body: dict[str, Any], outputs: int) -> int:
        """The bill, at the product's rate table (pipeline/magic_hour/rates.py: per requested
        second, per image made, per job), for what this body asks and the outputs made.

        Raises Unprocessable when the bill is no finite, JSON-safe number (e.g. 1.7e308 seconds)."""
        rate = _rate(self.name)
        credits = float(rate.credits_per_job)
        if rate.credits_per_second:
            if rate.duration_field is not None:
                seconds = _number(body.get(rate.duration_field), 30.0)
            else:
                seconds = _number(body.get("end_seconds"), 5.0) - _number(body.get("start_seconds"), 0.0)
            credits += seconds * rate.credits_per_second
        if rate.credits_per_image:
            credits += rate.credits_per_image * max(1, outputs)
        if not math.isfinite(credits) or credits > MAX_CREDITS:
            raise Unprocessable("The requested duration is too long")
        return max(1, math.ceil(credits))


def _rate(tool: str) -> Rate:
    # The product's own table, so what the simulator charges is what the pipeline estimates.
    found = find_tool(tool)
    if found is None:  # the simulator serves the product's catalogue, so every tool has a rate
        raise KeyError(tool)
    return rate_of(found)


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError as exc:  # an integer beyond any float
            raise Unprocessable("A number is out of range") from exc
    return default


class ToolCatalogue:
    """The create endpoints of the product's catalogue (31: the spec's and the SDK's); validators
    are compiled on first use and cached."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self._tools: dict[str, Tool] = {}
        for name, entry in data["tools"].items():
            kind = cast(Kind, entry["kind"])
            project_type = _PROJECT_TYPES.get(name, name.upper().replace("-", "_"))
            self._tools[name] = Tool(name, kind, project_type, entry["request_schema"])
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def validate(self, tool: Tool, body: Any) -> None:
        """Raises ValidationFailed with a message naming the field."""
        with self._lock:
            validator = self._validators.get(tool.name)
            if validator is None:
                validator = compile_schema(tool.schema)
                self._validators[tool.name] = validator
        validate(validator, body)
