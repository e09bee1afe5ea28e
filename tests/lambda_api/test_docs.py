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
    assert api.get("/docs/assets/favicon.png").content[:4] == b"\x89PNG"
    assert set(ASSETS) == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}


@pytest.mark.parametrize(
    "name", ["index.html", "..%2F..%2F__init__.py", "swagger-ui-bundle.js.map", "%2Fetc%2Fpasswd", "x"]
)
def test_nothing_but_the_three_assets_is_served(api, name):
    answer = api.get(f"/docs/assets/{name}")
    assert answer.status_code == 404 and "root:" not in answer.text


def test_in_a_browser_without_internet_the_docs_render_every_route(local_aws, published):
    from infra.local.demo import serve_api
    from tests import browser

    browser.chromium()  # skip before starting a server when there is no browser
    with serve_api({**local_aws.environment(), "RECS_TABLE_NAME": published}) as base_url:
        page = browser.dom(f"{base_url}/docs", wait_ms=10000)
    assert 'class="swagger-ui"' in page  # Swagger UI's script ran and drew the page
    for route in ("/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar", "/health"):
        assert f'data-path="{route}"' in page, route
