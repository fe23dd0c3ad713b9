"""Why a use case refuses: domain errors, nothing HTTP about them.

Each carries the sentence its caller reads and the facts behind it; the HTTP layer
(`talkavocado_api.errors.http_error`) alone decides the status code, the error code and the
headers of the response.
"""

from __future__ import annotations

from talkavocado_common.models import JobStatus


class UseCaseError(Exception):
    """A refusal: the request cannot be carried out as asked. `str(error)` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobNotFound(UseCaseError):
    """Unknown job, or another tenant's job: the same answer, byte for byte."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class WebhookNotFound(UseCaseError):
    """Unknown webhook, or another tenant's webhook: the same answer, byte for byte."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"webhook {webhook_id!r} not found")
        self.webhook_id = webhook_id


class ArtifactNotFound(UseCaseError):
    def __init__(self, path: str) -> None:
        super().__init__(f"no artifact {path!r} in this job")
        self.path = path


class InvalidInput(UseCaseError):
    """A value the caller sent is unusable; `field` names it when there is one to name."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidDestination(UseCaseError):
    """A webhook URL of the right shape that still cannot be delivered to (no host, a bad
    port, credentials in it)."""


class Conflict(UseCaseError):
    """The job's current state forbids the request; `status` is that state when it matters."""

    def __init__(self, reason: str, *, status: JobStatus | None = None) -> None:
        super().__init__(reason)
        self.status = status


class IdempotencyKeyReused(UseCaseError):
    """The idempotency key created a job before: that job, instead of a new one."""

    def __init__(self, job_id: str, manifest_key: str) -> None:
        super().__init__("this Idempotency-Key was already used; the first job is returned")
        self.job_id = job_id
        self.manifest_key = manifest_key


class UploadTooLarge(UseCaseError):
    def __init__(self, limit: int, declared: int) -> None:
        super().__init__(
            f"the upload is larger than {limit} bytes (declared input.bytes: {declared})"
        )
        self.limit = limit
        self.declared = declared


class RangeNotSatisfiable(UseCaseError):
    def __init__(self, size: int) -> None:
        super().__init__(f"the requested range is outside the object ({size} bytes)")
        self.size = size


class InputRejected(UseCaseError):
    """The uploaded file is not a recording the pipeline can edit (recorded in the manifest)."""


class Unavailable(UseCaseError):
    """A dependency (the broker, ffprobe) cannot be used right now; nothing was changed."""


class TooManyRequests(UseCaseError):
    """Admission control refused the request for now; it may be repeated after `retry_after`
    seconds (nothing was read or changed)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
