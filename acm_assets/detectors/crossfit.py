"""Time-blocked cross-fitting: every head is calibrated on what models that never saw a row said about it.

The baseline's learnable rows are cut into `crossfit_folds` contiguous blocks. Each block is scored by a fold
model fitted on the other blocks, less a gap at each cut at least as long as the process memory (the lag at
which the tags' autocorrelation has fallen to 1/e, median over tags) and the feature window (a row's spread
reaches a window back), so no fold model has seen a row's near neighbours. The out-of-fold scores of the whole
baseline then calibrate every head and the fused threshold, and show how far each head's behaviour on fresh
data departs from its behaviour on the rows it learned from. The final models are fitted on every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acm_assets.detectors.calibration import Calibrator

E_FOLDING = np.exp(-1.0)
MIN_CALIBRATION_ROWS = 20  # settled out-of-fold rows needed before only those calibrate
MIN_RELIABILITY = 0.2  # a head less reliable than this out of fold is switched off


@dataclass(frozen=True)
class FoldPlan:
    """Contiguous time blocks over the learnable rows (positions into them) and the gap kept at each cut."""

    folds: int
    memory_ns: int
    window_ns: int
    gap_ns: int
    gap_capped: bool
    blocks: tuple[tuple[np.ndarray, np.ndarray], ...]  # (train positions, test positions) per fold

    def to_params(self) -> dict:
        return {
            "method": "time-blocked cross-fitting",
            "folds": self.folds,
            "process_memory_s": self.memory_ns / 1e9,
            "feature_window_s": self.window_ns / 1e9,
            "gap_s": self.gap_ns / 1e9,
            "gap_capped_at_half_a_block": self.gap_capped,
            "train_rows_per_fold": [int(len(train)) for train, _ in self.blocks],
        }


def process_memory_ns(values: np.ndarray, cadence_ns: int) -> int:
    """The lag, in time, at which the tags' autocorrelation has fallen below 1/e (median over tags), read on
    consecutive running rows at the baseline cadence."""
    n = len(values)
    if n < 4 or cadence_ns <= 0:
        return 0
    lags = []
    for j in range(values.shape[1]):
        x = values[:, j]
        x = np.where(np.isfinite(x), x, np.nanmedian(x) if np.isfinite(x).any() else 0.0)
        x = x - x.mean()
        spectrum = np.fft.rfft(x, 2 * n)
        acf = np.fft.irfft(spectrum * np.conj(spectrum))[: n // 2]
        if acf[0] <= 0:
            continue
        below = np.flatnonzero(acf / acf[0] < E_FOLDING)
        lags.append(int(below[0]) if below.size else n // 2)
    return int(np.median(lags) * cadence_ns) if lags else 0


def plan_folds(times: np.ndarray, folds: int, memory_ns: int, window_ns: int) -> FoldPlan:
    """Blocks of equal row counts over `times` (the learnable rows, in time order); each fold trains on the
    rows farther than the gap from its test block. The gap is capped at half a block's span, so every fold
    keeps most of the baseline."""
    n = len(times)
    bounds = np.linspace(0, n, folds + 1).round().astype(int)
    span = int(times[-1] - times[0]) if n > 1 else 0
    gap = max(memory_ns, window_ns)
    cap = span // (2 * folds)
    capped = gap > cap
    gap = min(gap, cap)
    blocks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        test = np.arange(lo, hi)
        if test.size == 0:
            continue
        start, end = times[lo], times[hi - 1]
        train = np.flatnonzero((times < start - gap) | (times > end + gap))
        blocks.append((train, test))
    return FoldPlan(folds, int(memory_ns), int(window_ns), int(gap), bool(capped), tuple(blocks))


def cross_fit(head, x: np.ndarray, plan: FoldPlan, trainable: np.ndarray, calibrate: np.ndarray,
              train_cap) -> dict:
    """Fit `head`'s fold models, hand the final head the out-of-fold parts of the `calibrate` rows, fit its
    calibrators on them, and measure how fresh data departs from the rows each fold model learned from.
    `trainable` marks the rows a model may learn from; `train_cap(positions)` thins a fold's training rows
    like the final fit's. Returns the calibrated out-of-fold z per head name and the departure report."""
    oof: dict[str, np.ndarray] = {}
    in_fold: list[dict[str, np.ndarray]] = []
    fold_of = np.full(len(x), -1)
    for k, (train, test) in enumerate(plan.blocks):
        train = train_cap(train[trainable[train]])
        fold = head.refit(x[train])
        for name, values in fold.parts(x[test]).items():
            if name not in oof:
                oof[name] = np.full((len(x),) + values.shape[1:], np.nan)
            oof[name][test] = values
        fold_of[test] = k
        seen = train[np.linspace(0, len(train) - 1, min(len(train), len(test))).astype(int)]
        in_fold.append(fold.parts(x[seen]))
    scored = fold_of >= 0
    rows = scored & calibrate
    if rows.sum() < MIN_CALIBRATION_ROWS:
        rows = scored
    parts = {name: values[rows] for name, values in oof.items()}
    head.learn_out_of_fold(parts)
    raw = head.raw_from(parts)
    head.calibrators = {name: Calibrator.fit(values) for name, values in raw.items()}
    z = {name: head.calibrators[name](values) for name, values in raw.items()}
    seen_raw = head.raw_from({name: np.concatenate([p[name] for p in in_fold]) for name in oof})
    report = {}
    for name in z:
        z_in = head.calibrators[name](seen_raw[name])
        medians = [float(np.median(z[name][fold_of[rows] == k])) for k in range(len(plan.blocks))
                   if np.any(fold_of[rows] == k)]
        report[name] = reliability(float(np.median(z_in)), medians)
    return {"rows": rows, "z": z, "departure": report}


def reliability(in_fold_median_z: float, fold_median_z: list[float]) -> dict:
    """How far a head's behaviour on fresh rows departs from its behaviour on the rows it learned from.

    D is how much better the head looks on the rows its fold models learned from than on the rows they never
    saw (the in-fold median z below the out-of-fold median 0: over-fitting), S how far its median z moves
    from one held-out block to the next (a calibration that does not carry from one stretch of the baseline
    to the next will not carry to next month either). Reliability 1 / (1 + D² + S²); below MIN_RELIABILITY
    the head is switched off, with the reason."""
    d = max(-in_fold_median_z, 0.0)
    s = float(np.std(fold_median_z)) if fold_median_z else 0.0
    value = 1.0 / (1.0 + d * d + s * s)
    off = None
    if value < MIN_RELIABILITY:
        off = (f"reliability {value:.2f} < {MIN_RELIABILITY}: in-fold median z {-d:.2f} (over-fitted), block "
               f"medians spread {s:.2f}")
    return {"in_fold_median_z": round(in_fold_median_z, 4), "fold_median_z": [round(m, 4) for m in fold_median_z],
            "reliability": round(value, 4), "switched_off": off}
