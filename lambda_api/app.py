"""The FastAPI application, wired from its routes and error handlers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lambda_api.routes import router
from lambda_api.store import NotPublishedError


def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][1:]) or err['loc'][0]}: {err['msg']}" for err in exc.errors()
    )
    return JSONResponse(status_code=422, content={"detail": problems})


def _not_published(_: Request, exc: NotPublishedError) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "60"})


def create_app() -> FastAPI:
    app = FastAPI(
        title="recs",
        version="1",
        summary="Precomputed recommendations, served from DynamoDB through an in-process cache.",
    )
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotPublishedError, _not_published)
    return app


app = create_app()
