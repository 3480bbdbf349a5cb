"""The wire models of draft_session: validation and the OpenAPI document come from these alone."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..platform.validation import EMAIL, LANGUAGE, NO_NUL  # their errors are told apart by pattern

# Postgres text and jsonb cannot hold NUL: a draft holding one could be saved but never materialized.
ShortText = Annotated[StrictStr, Field(max_length=500, pattern=NO_NUL)]
LongText = Annotated[StrictStr, Field(max_length=10000, pattern=NO_NUL)]


class FormData(BaseModel):
    """The course-creation form. Every field is optional; an unknown field is a 422."""

    model_config = ConfigDict(extra="forbid")

    topic: Optional[ShortText] = None
    description: Optional[LongText] = None
    email: Optional[Annotated[StrictStr, Field(max_length=254, pattern=EMAIL)]] = None
    writingStyle: Optional[ShortText] = None
    language: Optional[Annotated[StrictStr, Field(max_length=10, pattern=LANGUAGE)]] = None
    targetAudience: Optional[LongText] = None
    estimatedLessons: Optional[Annotated[StrictInt, Field(ge=1, le=200)]] = None
    estimatedSections: Optional[Annotated[StrictInt, Field(ge=1, le=50)]] = None
    contentStrategy: Optional[ShortText] = None
    lessonDuration: Optional[Annotated[StrictInt, Field(ge=1, le=600, description="minutes")]] = None
    learningOutcomes: Optional[LongText] = None
    formats: Optional[Annotated[list[Annotated[StrictStr, Field(max_length=100, pattern=NO_NUL)]], Field(max_length=20)]] = None

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        """(fields to set, fields to remove): a field sent as null is removed, one not sent stays."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        return ({k: v for k, v in sent.items() if v is not None}, sorted(k for k, v in sent.items() if v is None))


class CreateDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formData: Optional[FormData] = None


class PatchDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formData: FormData
    version: Optional[Annotated[StrictInt, Field(ge=1)]] = Field(
        None, description="The version you last saw; a 409 if the session has moved on since.")


class Materialize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["submit", "file_upload"]
    formData: Optional[FormData] = Field(None, description="The submit's final values, merged first.")


class Session(BaseModel):
    sessionId: str
    organizationId: Optional[str]
    storage: Literal["redis", "database"]
    createdAt: str
    updatedAt: str
    expiresAt: Optional[str]
    version: int
    formData: dict[str, Any]
    state: Literal["open", "materializing", "materialized"] = Field(
        description="open: takes saves; materializing: its course is being created; materialized: it became "
                    "the course `courseId` and takes no more saves (409 already_materialized)")
    courseId: Optional[str] = Field(description="the course this draft became (reserved while materializing)")


class SessionSummary(BaseModel):
    sessionId: str
    topic: Optional[str]
    updatedAt: str
    expiresAt: Optional[str]


class SessionList(BaseModel):
    sessions: list[SessionSummary]


class Materialized(BaseModel):
    courseId: str
    slug: str
    sessionId: str
    created: bool
