"""The AWS Lambda entry point: ``lambda_api.handler.handler``."""

from mangum import Mangum

from lambda_api.app import app

handler = Mangum(app, lifespan="off")
