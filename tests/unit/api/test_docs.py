"""/docs is Swagger UI from this server's own files: nothing loads from a CDN."""

from __future__ import annotations

import re

from .support import Api


async def test_docs_load_nothing_from_elsewhere(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert url.startswith("/"), f"/docs loads {url} from elsewhere"
        assert not url.startswith("//"), url
    assert "cdn" not in page.text.lower()
    assert '"validatorUrl": null' in page.text  # no spec sent to validator.swagger.io
    for url in urls:
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
    bundle = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content[:2000]


async def test_redoc_is_off_and_docs_stay_out_of_the_document(api: Api) -> None:
    assert (await api.client.get("/redoc")).status_code == 404
    paths = api.app.openapi()["paths"]
    assert not [p for p in paths if p.startswith("/docs")]
