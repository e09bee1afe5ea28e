"""``/docs``: Swagger UI from the installed ``fastapi-offline`` wheel, never from a CDN.

FastAPI's own docs page loads Swagger UI's script and style from jsDelivr, which a firewalled
network (or a browser without internet) cannot reach. Here the page points at ``/docs/assets/``,
served from the files that fastapi-offline ships (Swagger UI 5, which reads the OpenAPI 3.1
that FastAPI writes; the older swagger-ui-bundle wheel carries Swagger UI 4, which cannot).
Only the three files the page needs are served: the asset name is looked up in ``ASSETS``,
never joined to a path taken from the request.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
CACHE = "public, max-age=86400"

docs = APIRouter(include_in_schema=False)


def _bundle() -> Path:
    import fastapi_offline  # imported on the first /docs request: not on the answer path's cold start

    return Path(fastapi_offline.__file__).parent / "static"


@docs.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="recs API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
    )


@docs.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"no docs asset {name!r}")
    return FileResponse(_bundle() / name, media_type=ASSETS[name], headers={"Cache-Control": CACHE})
