"""Redundant tags: plants measure one quantity twice (two transmitters, a flow and the valve output of its
controller), and such pairs move together to within their noise. A covariance over both is near-singular:
the heads that invert one use each group's representative instead, the others keep every tag (a pair that
stops agreeing is exactly what their residuals see)."""

from __future__ import annotations

import numpy as np

REDUNDANT_CORRELATION = 0.98  # |r| on the running baseline rows above which two tags measure one thing


def redundant_groups(values: np.ndarray, tags) -> list[tuple[str, ...]]:
    """Groups of near-collinear tags, each led by its representative: the tag correlated at least
    REDUNDANT_CORRELATION with the most others (ties: the first in tag order), then its partners. Greedy, so
    every member is that close to its representative, not merely chained through others."""
    tags = list(tags)
    x = np.where(np.isnan(values), np.nanmedian(values, axis=0), values)
    spread = x.std(axis=0)
    varying = spread > 0
    corr = np.zeros((len(tags), len(tags)))
    if varying.sum() > 1:
        corr[np.ix_(varying, varying)] = np.abs(np.corrcoef(x[:, varying], rowvar=False))
    np.fill_diagonal(corr, 0.0)
    close = corr >= REDUNDANT_CORRELATION
    left = set(range(len(tags)))
    groups = []
    while True:
        counts = {j: sum(close[j, k] for k in left if k != j) for j in left}
        best = max(sorted(left), key=lambda j: counts[j], default=None)
        if best is None or counts[best] == 0:
            break
        members = [best] + [k for k in sorted(left) if k != best and close[best, k]]
        groups.append(tuple(tags[k] for k in members))
        left -= set(members)
    return groups


def independent_tags(tags, groups) -> tuple[str, ...]:
    """Every tag that is no group's non-representative member, in tag order."""
    shadowed = {member for group in groups for member in group[1:]}
    return tuple(t for t in tags if t not in shadowed)
