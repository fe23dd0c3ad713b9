"""The app factory: everything the API talks to is passed in, so tests and the real deployment
build the same app with different adapters."""

from __future__ import annotations

import time
from collections.abc import Mapping

from fastapi import FastAPI

from talkavocado_common.storage import Storage

from . import __version__
from .auth import ApiKeyRing, load_keyring
from .auth_throttle import FailedAuthThrottle
from .deps import authenticate_request
from .docs import install_docs
from .errors import install_error_handlers
from .metrics import ApiMetrics
from .middleware import RequestMiddleware
from .openapi import install_openapi
from .ports import EventPublisher, ReadinessCheck, StatusFeed, storage_check
from .routes import jobs, ops, review, webhooks
from .settings import ApiSettings
from .signed_links import LinkSigner
from .usecases import Prober, build_use_cases
from .web import install_web_app

DESCRIPTION = """\
Create a job, upload the recording, follow its progress and download the results.

Every request except `/healthz`, `/readyz` and `/metrics` needs `Authorization: Bearer <key>`;
a key belongs to one tenant and sees only that tenant's jobs (another tenant's job is a 404,
the same as an unknown job; a malformed job id is a 400). A client that sends too many wrong
keys gets 429 with `Retry-After` for a while.
Every response carries `x-correlation-id` (the client's, or a new one); every error is JSON
`{error, detail, correlationId}`.
"""


def create_app(
    settings: ApiSettings,
    *,
    storage: Storage,
    publisher: EventPublisher,
    status_feed: StatusFeed,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    keyring: ApiKeyRing | None = None,
    prober: Prober | None = None,
) -> FastAPI:
    """Build the API.

    `readiness_checks` maps a name (`broker`, `storage`, ...) to an async check that raises when
    the dependency is unreachable; by default only storage is checked. `keyring` defaults to the
    keys in `settings`; `prober` to ffprobe (tests may pass fakes for both).
    """
    keys = keyring if keyring is not None else load_keyring(settings)
    metrics = ApiMetrics()
    use_cases = build_use_cases(
        settings,
        storage=storage,
        publisher=publisher,
        status_feed=status_feed,
        metrics=metrics,
        prober=prober,
    )
    app = FastAPI(
        title="TalkAvocado API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # docs.py serves /docs from local files; ReDoc needs a CDN: off
        redoc_url=None,
        # FastAPI's own server span stays (the middleware names it and hangs the events off
        # it); its operation spans (one per dependency, the endpoint, the serialisation) were
        # a third of a small request's time and nothing reads them.
        telemetry={"operation_spans": False},
        openapi_tags=[
            {"name": "jobs", "description": "Jobs of the caller's tenant."},
            {"name": "review", "description": "Review the cut, adjust it, render a revision."},
            {
                "name": "webhooks",
                "description": "Signed calls to the tenant's URLs when its jobs end.",
            },
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    app.state.settings = settings
    app.state.keyring = keys
    app.state.use_cases = use_cases
    app.state.metrics = metrics
    app.state.authenticate_request = authenticate_request
    app.state.auth_throttle = FailedAuthThrottle(
        settings.auth_failure_limit, settings.auth_failure_window_seconds
    )
    app.state.auth_clock = time.monotonic
    app.state.link_signer = LinkSigner.from_key_digests(keys.digests())
    app.state.link_clock = time.time
    app.state.readiness_checks = dict(
        readiness_checks if readiness_checks is not None else {"storage": storage_check(storage)}
    )
    install_error_handlers(app)
    install_openapi(app, settings)
    install_docs(app)
    install_web_app(app)
    app.include_router(jobs.router)
    app.include_router(review.router)
    app.include_router(review.session_router)
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    app.add_middleware(
        RequestMiddleware, metrics=metrics, max_json_body_bytes=settings.max_json_body_bytes
    )
    return app
