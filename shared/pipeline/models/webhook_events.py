"""Magic Hour's webhook deliveries: `{"type": "<kind>.<event>", "payload": <project object>}`.

Tolerant of fields Magic Hour adds later (extra="ignore"); strict about what we act on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pipeline.magic_hour.credits import storable_credits
from pipeline.models.job import Kind

ERROR_TEXT_MAX = {"code": 100, "message": 1000}


class ProjectError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = "unknown_error"
    message: str = ""

    @field_validator("code", "message", mode="before")
    @classmethod
    def _bounded_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Kept on the job (a DynamoDB item of at most 400 KB) and shown to clients: a long text
        # from Magic Hour is cut, never a reason to fail the event that ends the job.
        if value is None:
            return "unknown_error" if info.field_name == "code" else ""
        return value[: ERROR_TEXT_MAX[info.field_name or ""]] if isinstance(value, str) else value


class ProjectDownload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str
    expires_at: str | None = None


class ProjectPayload(BaseModel):
    """The project object Magic Hour sends (the same as GET /v1/<kind>-projects/{id})."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    name: str | None = None
    status: str | None = None
    credits_charged: int | None = None
    # True when Magic Hour sent a credits_charged we cannot store (negative, absurd, not a
    # number): recorded as unknown (None) instead, and the event is applied all the same.
    credits_out_of_range: bool = False
    downloads: list[ProjectDownload] = Field(default_factory=list)
    error: ProjectError | None = None

    @model_validator(mode="before")
    @classmethod
    def _storable_credits(cls, data: Any) -> Any:
        if isinstance(data, dict) and "credits_charged" in data:
            credits, out_of_range = storable_credits(data["credits_charged"])
            data = {**data, "credits_charged": credits, "credits_out_of_range": out_of_range}
        return data


EventName = Literal["started", "completed", "errored"]
EVENT_TYPES: dict[str, tuple[Kind, EventName]] = {
    f"{kind}.{event}": (kind, event)
    for kind in ("video", "image", "audio")
    for event in ("started", "completed", "errored")
}


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payload: ProjectPayload

    @property
    def kind(self) -> Kind:
        return EVENT_TYPES[self.type][0]  # type: ignore[attr-defined]

    @property
    def event(self) -> EventName:
        return EVENT_TYPES[self.type][1]  # type: ignore[attr-defined]


class VideoStarted(_Event):
    type: Literal["video.started"]


class VideoCompleted(_Event):
    type: Literal["video.completed"]


class VideoErrored(_Event):
    type: Literal["video.errored"]


class ImageStarted(_Event):
    type: Literal["image.started"]


class ImageCompleted(_Event):
    type: Literal["image.completed"]


class ImageErrored(_Event):
    type: Literal["image.errored"]


class AudioStarted(_Event):
    type: Literal["audio.started"]


class AudioCompleted(_Event):
    type: Literal["audio.completed"]


class AudioErrored(_Event):
    type: Literal["audio.errored"]


WebhookEvent = Annotated[
    VideoStarted
    | VideoCompleted
    | VideoErrored
    | ImageStarted
    | ImageCompleted
    | ImageErrored
    | AudioStarted
    | AudioCompleted
    | AudioErrored,
    Field(discriminator="type"),
]
