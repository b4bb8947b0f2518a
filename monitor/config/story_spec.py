"""The `stories:` section of config.yaml: how articles about one event join one story.

Owns the section's shape, its allowed ranges and the `StorySettings` it builds; the
defaults live in `StorySettings` (measured, docs/stories.md "Tuning"). Pure: no file, no
environment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.config.duration import parse_duration_s
from monitor.settings import StorySettings

_STORIES = StorySettings()
# Past a month a "story" is a topic, and its candidates would crowd out today's events; under
# an hour, the second outlet's report of the same event would start a story of its own.
_MIN_WINDOW_S = 3600.0
_MAX_WINDOW_S = 30 * 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoryWeightsSpec(_Strict):
    """How much each field of an article counts in its event vector."""

    title: float = Field(default=_STORIES.title_weight, ge=0, le=10)
    summary: float = Field(default=_STORIES.summary_weight, ge=0, le=10)
    body: float = Field(default=_STORIES.body_weight, ge=0, le=10)

    @model_validator(mode="after")
    def _check_some_field(self) -> StoryWeightsSpec:
        if not (self.title or self.summary or self.body):
            raise ValueError(
                "every field weighs 0, so no article would say what its event is: give the "
                f"title some weight (the default is {_STORIES.title_weight:g})"
            )
        return self


class StoriesSpec(_Strict):
    """The `stories:` section; every key is optional."""

    window: str | int | float = "72h"
    threshold: float = Field(default=_STORIES.threshold, gt=0, le=1)
    unnamed_threshold: float = Field(default=_STORIES.unnamed_threshold, gt=0, le=1)
    feed_rarity: float = Field(default=_STORIES.feed_rarity_power, ge=0, le=1)
    body_tokens: int = Field(default=_STORIES.body_tokens, ge=0, le=100_000)
    weights: StoryWeightsSpec = StoryWeightsSpec()

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str | int | float) -> str | int | float:
        seconds = parse_duration_s(value)
        if not _MIN_WINDOW_S <= seconds <= _MAX_WINDOW_S:
            raise ValueError(
                f"a story window of '{value}' is out of range: use 1h to 30d (the default, "
                "72h, keeps the wire, the dailies and the weeklies of one event together)"
            )
        return value

    @model_validator(mode="after")
    def _check_thresholds(self) -> StoriesSpec:
        if self.unnamed_threshold < self.threshold:
            raise ValueError(
                f"unnamed_threshold ({self.unnamed_threshold:g}) is below threshold "
                f"({self.threshold:g}): an article sharing no name with a story would join "
                "it more easily than one that does; set it at or above threshold"
            )
        return self

    def settings(self) -> StorySettings:
        """The settings the story scheme takes."""
        return StorySettings(
            window_s=parse_duration_s(self.window),
            threshold=self.threshold,
            unnamed_threshold=self.unnamed_threshold,
            feed_rarity_power=self.feed_rarity,
            body_tokens=self.body_tokens,
            title_weight=self.weights.title,
            summary_weight=self.weights.summary,
            body_weight=self.weights.body,
        )
