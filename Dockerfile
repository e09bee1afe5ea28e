# The nightly job's container: `recs run` with the batch extra, nothing else (no moto, no API server).
# Built by the team's CI and pushed to ECR; infra/template.yaml runs it as a Fargate task at 02:00 UTC.
#   docker build -t recs-batch . && docker run --rm -e AWS_REGION=... recs-batch run --events s3://bucket/raw/
FROM python:3.11-slim

# implicit's and numba's wheels link OpenMP
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY contract contract
COPY pipeline pipeline
RUN pip install --no-cache-dir '.[batch]'

# a user of its own; Prefect's temporary API keeps its database in /tmp (the container starts empty each night)
RUN useradd --create-home --uid 10001 recs
USER recs
ENV PREFECT_HOME=/tmp/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["recs"]
CMD ["run", "--help"]
