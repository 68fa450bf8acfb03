"""The `acm` operator command line."""


class CliError(Exception):
    """An operator-facing failure: printed as one line, exit status 2."""
