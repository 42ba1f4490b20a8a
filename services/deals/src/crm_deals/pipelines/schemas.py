from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_deals.fields import Text

OpenCategory = Literal["pipeline", "best_case", "commit", "omitted"]


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    probability: int = Field(ge=0, le=100, description="default win probability, percent")
    forecast_category: OpenCategory = "pipeline"
    max_days_in_stage: int = Field(
        0, ge=0, le=3650, description="stalled alert after this many days; 0 = off"
    )


class PipelineCreate(BaseModel):
    """Open stages in order; a closed-won (100 %) and a closed-lost (0 %) stage are appended."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    stages: list[StageIn] = Field(min_length=1, max_length=30)
    won_stage_name: Text = Field("Closed won", min_length=1, max_length=200)
    lost_stage_name: Text = Field("Closed lost", min_length=1, max_length=200)
    is_default: bool = False


class PipelineUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=200)
    is_default: Literal[True] | None = Field(None, description="make this the default pipeline")


class StageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=200)
    probability: int | None = Field(None, ge=0, le=100, description="open stages only")
    forecast_category: OpenCategory | None = Field(None, description="open stages only")
    max_days_in_stage: int | None = Field(None, ge=0, le=3650)


class StageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    position: int
    kind: str
    probability: int
    forecast_category: str
    max_days_in_stage: int


class PipelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    is_default: bool
    stages: list[StageOut]
    created_at: dt.datetime
