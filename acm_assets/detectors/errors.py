"""Errors raised by the detector library; each message names what is wrong (tag, artifact, setting)."""


class DetectorInputError(ValueError):
    """A baseline or scoring frame cannot be used as given."""


class DetectorFitError(ValueError):
    """A model cannot be fitted soundly on this baseline (too few rows, ill-conditioned, ...)."""


class ArtifactMismatchError(ValueError):
    """Artifacts that must belong together (same tags, regime model, baseline) do not."""
