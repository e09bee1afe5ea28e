"""The named errors of the pipeline: each message names the input and the rule it broke."""


class PipelineError(Exception):
    """Base of every error the pipeline raises on bad input or a refused step."""


class IngestError(PipelineError):
    """An input file cannot be loaded; nothing of this ingest call was stored."""


class PublishError(PipelineError):
    """Rows could not be written or verified, or a flip was refused; the pointer was not touched."""
