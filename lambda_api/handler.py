"""The AWS Lambda entry point: ``lambda_api.handler.handler``."""

from mangum import Mangum

from lambda_api import auth
from lambda_api.app import app

auth.check_environment()  # a malformed RECS_API_KEYS fails the container's start, naming no key

handler = Mangum(app, lifespan="off")
