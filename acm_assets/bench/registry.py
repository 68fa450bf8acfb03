"""Placeholder: filled in by its issue."""


def add_arguments(parser) -> None:
    pass


def run(args) -> dict:
    return {}
