"""/docs works offline: Swagger UI's assets come from the installed wheel, not a CDN."""

from __future__ import annotations

import pytest

from lambda_api.docs import ASSETS


def test_the_docs_page_loads_its_assets_from_the_api_itself(api):
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f'"/docs/assets/{name}"' in page.text
    assert "cdn.jsdelivr" not in page.text and "unpkg" not in page.text
    assert "/openapi.json" in page.text
    assert api.get("/redoc").status_code == 404  # ReDoc would load from a CDN


def test_each_asset_is_the_real_file_with_its_type(api):
    script = api.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text and len(script.content) > 100_000
    style = api.get("/docs/assets/swagger-ui.css")
    assert style.headers["content-type"].startswith("text/css") and ".swagger-ui" in style.text
    assert api.get("/docs/assets/favicon-32x32.png").content[:4] == b"\x89PNG"
    assert set(ASSETS) == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}


@pytest.mark.parametrize(
    "name", ["index.html", "..%2F..%2F__init__.py", "swagger-ui-bundle.js.map", "%2Fetc%2Fpasswd", "x"]
)
def test_nothing_but_the_three_assets_is_served(api, name):
    answer = api.get(f"/docs/assets/{name}")
    assert answer.status_code == 404 and "root:" not in answer.text
