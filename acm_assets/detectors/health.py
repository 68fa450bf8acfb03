"""The one threshold table (GOOD < caution <= CAUTION < alert <= ALERT on fused z) and a 0-100 health
figure that is monotone in fused z and agrees with the table at both boundaries. Only running points are
judged: OFF points have no score, and start-ups, stops and ramps (TRANSITION) are scored but never rated, as
they never alarm: a start-up's fused z of 25 is the start-up, not an ALERT."""

from __future__ import annotations

import numpy as np

GOOD, CAUTION, ALERT, NOVEL, OFF, TRANSITION = "GOOD", "CAUTION", "ALERT", "NOVEL", "OFF", "TRANSITION"
HEALTH_AT_CAUTION = 70.0
HEALTH_AT_ALERT = 40.0


def severity(fused_z: np.ndarray, caution_z: float, alert_z: float, transition: np.ndarray,
             novel: np.ndarray) -> np.ndarray:
    """Severity per point; points without a fused score (equipment OFF) are OFF, `transition` points TRANSITION,
    `novel` points below ALERT (an operating point beyond the baseline's envelope) NOVEL."""
    out = np.where(fused_z >= alert_z, ALERT, np.where(fused_z >= caution_z, CAUTION, GOOD)).astype(object)
    out[novel & (out != ALERT)] = NOVEL
    out[transition] = TRANSITION
    out[np.isnan(fused_z)] = OFF
    return out


def health(fused_z: np.ndarray, caution_z: float, alert_z: float, transition: np.ndarray) -> np.ndarray:
    """100 at z <= 0, 70 at the caution threshold, 40 at the alert threshold, 0 at twice the alert threshold;
    linear in between, so health > 70 is exactly GOOD and health <= 40 exactly ALERT."""
    knots_z = [0.0, caution_z, alert_z, 2.0 * alert_z]
    knots_h = [100.0, HEALTH_AT_CAUTION, HEALTH_AT_ALERT, 0.0]
    return np.where(np.isnan(fused_z) | transition, np.nan, np.interp(fused_z, knots_z, knots_h))
