"""The review app (issue 12): static files served by the API itself at `/` (the page) and
`/ui/` (its scripts and styles), so it works on a closed network and needs no second server.
It is a client of the same REST API as any other; nothing loads from elsewhere."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

WEB_FILES = Path(__file__).with_name("web")
ASSETS_PATH = "/ui"
# The page and its modules come from this server only. Media may come from a presigned S3 URL
# (another origin), so media-src is open; scripts, styles, connections and frames are not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' https: http: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """StaticFiles with the app's security headers (and revalidation, not stale scripts)."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers.update(_HEADERS)
        return response


def install_web_app(app: FastAPI) -> None:
    """Serve the review app: `/` is its page, `/ui/*` its files."""
    app.mount(ASSETS_PATH, _Assets(directory=WEB_FILES), name="web-assets")

    async def page() -> FileResponse:
        return FileResponse(WEB_FILES / "index.html", headers=_HEADERS)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
