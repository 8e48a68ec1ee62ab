"""Job error codes beyond ml.errors, and the words people see for each code."""
from ml import errors as ml_errors
from ml.media.decode import UNSUPPORTED_MESSAGE  # worded from the one list of accepted formats

INTERNAL_ERROR = "internal_error"
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
STUCK = "stuck"  # the sweeper gave up: lost messages or dead workers, too many times
STORAGE_ERROR = "storage_error"
STORAGE_UNAVAILABLE = "storage_unavailable"  # an upload could not be stored (the object store is away)
MODEL_UNAVAILABLE = "model_unavailable"  # the serving model's file is missing or not what the registry says

MESSAGES = {
    ml_errors.EMPTY_FILE: "The file is empty.",
    ml_errors.UNSUPPORTED_TYPE: UNSUPPORTED_MESSAGE,
    ml_errors.CORRUPT_MEDIA: "The file is damaged or incomplete and cannot be read.",
    ml_errors.TOO_LONG: "The file is too long.",
    ml_errors.TOO_LARGE: "The file is too large.",
    ml_errors.NO_FACE: "No face was found in this file, so there is nothing to analyse.",
    INTERNAL_ERROR: "Something went wrong on our side while analysing this file. Please try again later.",
    TIMEOUT: "The analysis took too long and was stopped.",
    RATE_LIMITED: "You have uploaded too many files in the last hour. Please wait a while.",
    STUCK: "The analysis could not be completed after several tries. Please upload the file again later.",
    STORAGE_ERROR: "The results could not be saved on our side. Please try again later.",
    STORAGE_UNAVAILABLE: "Files cannot be stored right now. Please try again in a few minutes.",
    MODEL_UNAVAILABLE: "The detector could not be loaded on our side. Please try again later.",
}


def message_for(code: str, detail: str | None = None) -> str:
    return detail or MESSAGES.get(code) or MESSAGES[INTERNAL_ERROR]


class ModelUnavailable(Exception):
    """The serving model cannot be loaded (file missing, sha256 wrong): the job fails with MODEL_UNAVAILABLE."""

    code = MODEL_UNAVAILABLE
