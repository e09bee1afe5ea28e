"""The FastAPI application, wired from its routes, middleware and error handlers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lambda_api import api_docs, auth
from lambda_api.deps import Runtime
from lambda_api.docs import docs
from lambda_api.middleware import ConfiguredCORS, ErrorBoundary
from lambda_api.routes import keyed, router
from lambda_api.store import NotPublishedError, RecommendationStore, StoreUnavailableError

if TYPE_CHECKING:
    from lambda_api.settings import ApiSettings

log = logging.getLogger(__name__)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][1:]) or err['loc'][0]}: {err['msg']}" for err in exc.errors()
    )
    return JSONResponse(status_code=422, content={"detail": problems})


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A 503 for ``NotPublishedError`` and ``StoreUnavailableError``."""
    log.warning("503 on %s: %s", request.url.path, exc)
    retry_after = str(request.app.state.runtime.settings.retry_after_seconds)
    return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": retry_after})


def create_app(settings: ApiSettings | None = None, store: RecommendationStore | None = None) -> FastAPI:
    """The app; ``settings`` default to the environment's, ``store`` to one built from them on first use."""
    app = FastAPI(
        title="recs",
        version="1",
        summary="Precomputed recommendations, served from DynamoDB through an in-process cache.",
        docs_url=None,  # lambda_api.docs serves /docs from the installed wheel, not a CDN
        redoc_url=None,  # ReDoc has no wheel of its assets; /docs covers it
        redirect_slashes=False,  # a redirect's Location would be built from the client's Host header
        openapi_tags=api_docs.TAGS,
    )
    app.state.runtime = runtime = Runtime(settings, store)
    app.include_router(router)
    app.include_router(keyed)
    app.include_router(docs)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotPublishedError, _unavailable)
    app.add_exception_handler(StoreUnavailableError, _unavailable)
    app.add_middleware(ConfiguredCORS, runtime=runtime)
    app.add_middleware(ErrorBoundary)
    return app


auth.check_environment()  # a malformed RECS_API_KEYS fails the container's start, naming no key
app = create_app()
