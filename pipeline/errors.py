"""Project error types; the CLI turns each into one `faceanon: error: …` line."""


class FaceanonError(Exception):
    """Base class for failures the user should see as one clear line."""

    exit_code = 1


class InputError(FaceanonError):
    """Bad usage or bad input (missing, unreadable or unsupported file, bad option): exit 2."""

    exit_code = 2


class WeightsError(InputError):
    """A weight file is missing, damaged, or its card does not match what the code expects."""


class ProcessingError(FaceanonError):
    """The input was fine but processing it failed: exit 1."""
