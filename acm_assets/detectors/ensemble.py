"""DetectorEnsemble: the eight artifacts assembled into one scorer with fusion, health and episodes."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from acm_assets.detectors.artifacts import ARTIFACT_SCHEMA, ModelType, fingerprint
from acm_assets.detectors.config import HEADS, EnsembleConfig
from acm_assets.detectors.episodes import NONE, SUSTAINED_HOLDS, EpisodeTracker, Hold, running_totals, track
from acm_assets.detectors.errors import ArtifactMismatchError, DetectorInputError
from acm_assets.detectors.fitting import FIT_ORDER, MODEL_DEPENDENCIES, fit_model
from acm_assets.detectors.frames import checked_index, numeric_tags
from acm_assets.detectors.fusion import LEVEL_HEADS, Fusion, earned_weights, longest_excursion_ns, out_of_fold_matrix
from acm_assets.detectors.heads import HEAD_CLASSES
from acm_assets.detectors.health import health, severity
from acm_assets.detectors.inputs import Carry, build_inputs
from acm_assets.detectors.medians import FeatureMedians
from acm_assets.detectors.operating import NEVER, RUNNING, TRANSITION, RegimeModel, durations_setting
from acm_assets.detectors.state import ScoringState

HEAD_OWNER = {
    "ar1": ModelType.ar1_params,
    "pca_spe": ModelType.pca_model,
    "pca_t2": ModelType.pca_model,
    "iforest": ModelType.iforest_model,
    "gmm": ModelType.gmm_model,
    "mhal": ModelType.mhal_params,
    "omr": ModelType.omr_model,
}
EPISODE_COLUMNS = ["episode_id", "kind", "start", "end", "onset", "open", "peak_z", "mean_z", "duration", "points",
                   "regime", "novel_share", "alert_share", "culprits"] + [f"share_{h}" for h in HEADS]
_NO_EPISODES = pd.DataFrame({c: pd.Series(dtype=object) for c in EPISODE_COLUMNS})
_EXPECTED = {ModelType.regime_model: RegimeModel, ModelType.feature_medians: FeatureMedians, **HEAD_CLASSES}


class DetectorEnsemble:
    """Fit on a healthy baseline, score any later frame (alone or day by day with a carried state)."""

    def __init__(self, config: EnsembleConfig | None = None):
        self.config = config if config is not None else EnsembleConfig()
        if not isinstance(self.config, EnsembleConfig):
            raise DetectorInputError(f"config must be an EnsembleConfig, got {type(self.config).__name__}")

    def fit(self, baseline: pd.DataFrame, normal_spans=()) -> DetectorEnsemble:
        """`normal_spans`: (start, end) pairs judged normal operation, learned from even where the contamination
        trim would cut them."""
        models: dict[ModelType, object] = {}
        for model_type in FIT_ORDER:
            deps = {d: models[d] for d in MODEL_DEPENDENCIES[model_type]}
            models[model_type] = fit_model(model_type, baseline, self.config, deps, normal_spans)
        self._assemble(models)
        return self

    @classmethod
    def from_models(cls, models: dict, config: EnsembleConfig | None = None) -> DetectorEnsemble:
        """Rebuild from stored artifacts (e.g. the registry's versions); scores bit-identically."""
        ensemble = cls(config)
        ensemble._assemble(models)
        return ensemble

    @property
    def models(self) -> dict[ModelType, object]:
        self._check_fitted()
        return dict(self.models_)

    # ------------------------------------------------------------------ assembly
    def _assemble(self, models: dict) -> None:
        try:
            models = {ModelType(k): v for k, v in models.items()}
        except ValueError as exc:
            raise ArtifactMismatchError(f"models: {exc}") from None
        missing = [t.value for t in ModelType if t not in models]
        if missing:
            raise ArtifactMismatchError(f"models: missing artifacts {missing}")
        for model_type, artifact in models.items():
            expected = _EXPECTED[model_type]
            if not isinstance(artifact, expected):
                raise ArtifactMismatchError(f"{model_type.value}: expected {expected.__name__}, got {type(artifact).__name__}")
            if getattr(artifact, "schema", None) != ARTIFACT_SCHEMA:
                raise ArtifactMismatchError(
                    f"{model_type.value}: artifact schema {getattr(artifact, 'schema', None)}, this library reads "
                    f"{ARTIFACT_SCHEMA}; re-fit it"
                )
        regime = models[ModelType.regime_model]
        for model_type, artifact in models.items():
            if artifact.tags != regime.tags:
                raise ArtifactMismatchError(
                    f"{model_type.value}: trained on tags {list(artifact.tags)}, regime_model on {list(regime.tags)}"
                )
            if artifact.baseline_fingerprint != regime.baseline_fingerprint:
                raise ArtifactMismatchError(
                    f"{model_type.value} was fitted on another baseline than regime_model "
                    f"({artifact.baseline_fingerprint} != {regime.baseline_fingerprint}); re-fit them together"
                )
            for dep, recorded in artifact.upstream.items():
                if models[ModelType(dep)].fingerprint != recorded:
                    raise ArtifactMismatchError(
                        f"{model_type.value} was fitted with {dep} {recorded}, but the given {dep} is "
                        f"{models[ModelType(dep)].fingerprint}; re-fit {model_type.value} on this {dep}"
                    )
        fitted, configured = regime.params["configured_durations"], durations_setting(self.config)
        changed = sorted(n for n in configured if fitted.get(n) != configured[n])
        if changed:
            raise ArtifactMismatchError(
                f"regime_model was fitted with {', '.join(f'{n}={fitted.get(n)}' for n in changed)} but the config "
                f"says {', '.join(f'{n}={configured[n]}' for n in changed)}; re-fit it or use its config"
            )
        self._fuse(models)
        self.models_ = models
        self.fingerprint_ = fingerprint(self.config.signature(), [models[t].fingerprint for t in ModelType])

    def _fuse(self, models: dict) -> None:
        """The fused and the novelty score, both calibrated on the heads' common out-of-fold points, and the
        novelty hold: longer than the longest healthy level excursion there, and never shorter than the
        sustained-evidence hold of a fault."""
        cfg, regime = self.config, models[ModelType.regime_model]
        heads = [h for h in HEAD_OWNER if cfg.weight(h) > 0]
        out_of_fold = {h: (models[o].oof_times, models[o].oof_z[h]) for h, o in HEAD_OWNER.items()}
        times, z = out_of_fold_matrix(out_of_fold, {h: o.value for h, o in HEAD_OWNER.items()}, heads)
        departures = {h: models[HEAD_OWNER[h]].params["cross_fitting"]["departure"][h] for h in heads}
        weights, report = earned_weights(heads, departures, z, cfg)
        self.fusion_ = Fusion.fit(heads, weights, z, cfg, corroborated=True)
        level = [j for j, h in enumerate(heads) if h in LEVEL_HEADS and weights[j] > 0]
        self.novelty_ = None
        durations = regime.durations
        hold = Hold(SUSTAINED_HOLDS * durations.ns("on_hold"), SUSTAINED_HOLDS * durations.steps("on_hold"))
        if level:
            self.novelty_ = Fusion.fit([heads[j] for j in level], weights[level], z[:, level], cfg, corroborated=False)
            longest = longest_excursion_ns(times, self.novelty_(z[:, level]), cfg.alert_z, cfg.caution_z)
            steps = int(np.ceil(longest / max(durations.cadence_ns, 1)))
            hold = Hold(max(hold.ns, longest + durations.cadence_ns), max(hold.steps, steps + 1))
        self.novelty_hold_ = hold
        self.threshold_method = (f"fused z at alert_z {cfg.alert_z:g} where the {1.0 - cfg.false_alarm_rate:g} "
                                 f"quantile of {len(times)} out-of-fold points lies")
        self.fusion_report_ = {
            **report,
            "weights": dict(zip(heads, weights.round(6).tolist())),
            "out_of_fold_points": int(len(times)),
            "alert_threshold_raw": round(self.fusion_.threshold, 6),
            "threshold_method": self.threshold_method,
            "novelty_heads": [heads[j] for j in level],
            "novelty_hold_s": hold.ns / 1e9,
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise DetectorInputError("this DetectorEnsemble is not fitted; call fit(baseline) or from_models()")

    # ------------------------------------------------------------------ scoring
    def score(self, frame: pd.DataFrame, state: ScoringState | dict | None = None) -> pd.DataFrame:
        return self.score_with_state(frame, state)[0]

    def score_with_state(self, frame: pd.DataFrame, state: ScoringState | dict | None = None):
        """Scores for `frame` and the state to pass with the next frame (which must start after this one)."""
        scores, states = self.score_with_states(frame, state, [])
        return scores, states[-1]

    def score_with_states(self, frame: pd.DataFrame, state: ScoringState | dict | None, ends) -> tuple:
        """Scores for `frame`, and the state after the points before each of `ends` (increasing times; the
        given state where there are none) followed by the state after the whole frame: what chained
        `score_with_state` calls on the frame cut at `ends` would return, for the cost of one call (a backfill
        scores a month at once and stores each day's state)."""
        self._check_fitted()
        cfg, regime = self.config, self.models_[ModelType.regime_model]
        frame = checked_index(frame, "scoring frame")
        missing = [t for t in regime.tags if t not in frame.columns]
        if missing:
            raise DetectorInputError(f"scoring frame: missing trained tags {missing}")
        extra = [str(c) for c in frame.columns if c not in regime.tags]
        values = numeric_tags(frame, regime.tags, "scoring frame").to_numpy()
        times = frame.index.asi8.copy()
        state = self._checked_state(state, times)
        p = len(regime.tags)
        carry = state.carry if state is not None and state.carry.raw.shape[1:] == (p,) else Carry.empty(p)
        tracker = copy.deepcopy(state.tracker) if state is not None else EpisodeTracker()
        carried_id, carried_sums = tracker.episode_id, list(tracker.sums)

        inputs, off, resting, pooled = build_inputs(
            values, times, regime, self.models_[ModelType.feature_medians],
            last_low_ns=state.last_low_ns if state is not None else None, carry=carry,
        )
        z, contrib = {}, {}
        for owner in dict.fromkeys(HEAD_OWNER.values()):
            artifact = self.models_[owner]
            x = artifact.inputs(inputs.matrix(artifact.columns))
            z.update(artifact.z(x))
            contrib.update(artifact.contributions(x))
        fused = self.fusion_(np.column_stack([z[h] for h in self.fusion_.heads]))
        if self.novelty_ is not None:
            novelty = self.novelty_(np.column_stack([z[h] for h in self.novelty_.heads]))
        else:
            novelty = np.full(len(times), -np.inf)
        fused[off] = novelty[off] = np.nan
        for head in HEADS:
            z[head][off] = np.nan
        tag_contrib = self._tag_contributions(z, contrib, off, p)
        eligible = inputs.state == RUNNING
        novel = eligible & (np.nan_to_num(novelty, nan=-np.inf) >= cfg.alert_z)
        holds = {name: Hold(regime.durations.ns(name), regime.durations.steps(name))
                 for name in ("on_hold", "off_hold", "strong_hold")}
        cuts = np.searchsorted(times, [pd.Timestamp(end).value for end in ends], side="left")
        ids, meta, snapshots = track(
            tracker, times, np.nan_to_num(fused, nan=-np.inf), np.nan_to_num(novelty, nan=-np.inf), eligible,
            inputs.regime, alert_z=cfg.alert_z, caution_z=cfg.caution_z, strong_z=cfg.strong_z,
            holds={**holds, "novelty_hold": self.novelty_hold_}, snapshots=set(cuts.tolist()),
        )
        head_pos = np.column_stack([np.clip(np.nan_to_num(z[h]), 0.0, None) for h in HEADS])
        accumulate = np.column_stack([np.ones(len(times)), np.nan_to_num(fused), novel.astype(float),
                                      (np.nan_to_num(fused, nan=-np.inf) >= cfg.alert_z).astype(float),
                                      tag_contrib, head_pos])
        sums, peaks = running_totals(ids, accumulate, np.nan_to_num(fused, nan=-np.inf), carried_id, carried_sums)
        if tracker.episode_id is not None and len(times) and ids[-1] == tracker.episode_id:
            tracker.sums = sums[-1].tolist() + [float(peaks[-1])]

        scores = self._frame(frame.index, inputs, z, fused, novelty, novel, tag_contrib, ids, meta, sums, peaks)
        scores.attrs["ignored_tags"] = extra
        lookback = max(regime.window_ns, *(regime.durations.ns(n) for n in ("ffill_limit", "ar_max_gap")))
        new_state = ScoringState(
            models_fingerprint=self.fingerprint_,
            config_signature=cfg.signature(),
            last_time_ns=int(times[-1]) if len(times) else (state.last_time_ns if state else 0),
            last_low_ns=inputs.last_low_ns,
            carry=carry.extend(times, values, pooled, resting, lookback),
            tracker=tracker,
        )

        def state_before(cut: int) -> ScoringState | None:
            """The state chained calls would hold after the first `cut` points (as `new_state` is built)."""
            if cut == 0:
                return state
            if cut == len(times):
                return new_state
            snapshot = snapshots[cut]
            if snapshot.episode_id is not None and ids[cut - 1] == snapshot.episode_id:
                snapshot.sums = sums[cut - 1].tolist() + [float(peaks[cut - 1])]
            low = int(inputs.last_low[cut - 1])
            return ScoringState(
                models_fingerprint=self.fingerprint_,
                config_signature=cfg.signature(),
                last_time_ns=int(times[cut - 1]),
                last_low_ns=low if low != NEVER else (state.last_low_ns if state is not None else None),
                carry=carry.extend(times[:cut], values[:cut], pooled[:cut], resting[:cut], lookback),
                tracker=snapshot,
            )

        return scores, [state_before(int(cut)) for cut in cuts] + [new_state]

    def _checked_state(self, state, times) -> ScoringState | None:
        if state is None:
            return None
        if isinstance(state, dict):
            state = ScoringState.from_dict(state)
        if not isinstance(state, ScoringState):
            raise DetectorInputError(f"state must be a ScoringState, its to_dict(), or None; got {type(state).__name__}")
        if state.models_fingerprint != self.fingerprint_:
            raise DetectorInputError(
                "scoring state was produced by other models or settings "
                f"({state.models_fingerprint} != {self.fingerprint_}); start without a state after retraining"
            )
        if len(times) and times[0] <= state.last_time_ns:
            raise DetectorInputError(
                f"scoring frame starts at {pd.Timestamp(times[0], tz='UTC')}, not after the state's last scored "
                f"point {pd.Timestamp(state.last_time_ns, tz='UTC')}"
            )
        return state

    def _tag_contributions(self, z, contrib, off, p) -> np.ndarray:
        """Each head's positive z, split over tags in proportion to its standardised per-tag contributions,
        weighted like the fusion: fused-z units per tag, never raw magnitudes."""
        weights = dict(zip(self.fusion_.heads, self.fusion_.weights / self.fusion_.weights.sum()))
        out = np.zeros((len(off), p))
        for head, parts in contrib.items():
            if head not in weights:
                continue
            total = parts.sum(axis=1, keepdims=True)
            share = np.divide(parts, total, out=np.zeros_like(parts), where=total > 0)
            out += weights[head] * np.clip(np.nan_to_num(z[head]), 0.0, None)[:, None] * share
        out[off] = 0.0
        return out

    def _frame(self, index, inputs, z, fused, novelty, novel, tag_contrib, ids, meta, sums, peaks) -> pd.DataFrame:
        cfg, tags = self.config, inputs.tags
        in_episode = ids != NONE
        data = {f"{h}_z": z[h] for h in HEADS}
        data["fused_z"] = fused
        data["novelty_z"] = novelty
        transition = inputs.state == TRANSITION
        data["health"] = health(fused, cfg.caution_z, cfg.alert_z, transition)
        data["severity"] = severity(fused, cfg.caution_z, cfg.alert_z, transition, novel)
        data["regime"] = _nullable(inputs.regime, inputs.regime < 0)
        data["operating_state"] = inputs.state.astype(object)
        data["novel"] = novel
        data["imputed_tags"] = inputs.n_imputed.astype(np.int64)
        data["alarm"] = in_episode
        data["episode_id"] = _nullable(ids, ~in_episode)
        start, onset, regime = (_episode_field(ids, meta, k) for k in range(3))
        kinds = np.full(len(ids), None, dtype=object)
        for episode_id, fields in meta.items():
            kinds[ids == episode_id] = fields[3]
        data["episode_kind"] = kinds
        # As datetime64 views (NaT outside episodes): pd.to_datetime of the integers costs a millisecond a call.
        data["episode_start"] = pd.DatetimeIndex(start.view("M8[ns]")).tz_localize("UTC")
        data["episode_onset"] = pd.DatetimeIndex(onset.view("M8[ns]")).tz_localize("UTC")
        data["episode_regime"] = _nullable(regime, ~in_episode)
        data["episode_points"] = sums[:, 0]
        data["episode_sum_z"] = sums[:, 1]
        data["episode_peak_z"] = peaks
        data["episode_novel_points"] = sums[:, 2]
        data["episode_alert_points"] = sums[:, 3]
        p = len(tags)
        for j, tag in enumerate(tags):
            data[f"contrib__{tag}"] = tag_contrib[:, j]
        for j, tag in enumerate(tags):
            data[f"episode_contrib__{tag}"] = sums[:, 4 + j]
        for j, head in enumerate(HEADS):
            data[f"episode_head__{head}"] = sums[:, 4 + p + j]
        return pd.DataFrame(data, index=index)

    # ------------------------------------------------------------------ episodes
    def episodes(self, scores: pd.DataFrame) -> pd.DataFrame:
        """One row per episode in `scores` (several batches' scores may be concatenated)."""
        if "episode_id" not in scores.columns:
            raise DetectorInputError("episodes(): expected the frame returned by score()")
        # Called once per scored day: most days have no episode, and the rest only a few rows to read, so no
        # frame is filtered or grouped (those cost milliseconds a call).
        inside = np.flatnonzero(scores["episode_id"].notna().to_numpy())
        if not len(inside):
            return _NO_EPISODES.copy()
        ids = scores["episode_id"].iloc[inside].to_numpy(dtype=np.int64)
        _, last_of_reversed = np.unique(ids[::-1], return_index=True)
        last_rows = scores.iloc[np.sort(inside[len(inside) - 1 - last_of_reversed])]  # each episode's last row
        tags = [c[len("contrib__"):] for c in scores.columns if c.startswith("contrib__")]
        records = []
        for when, row in last_rows.iterrows():
            contrib = np.array([row[f"episode_contrib__{t}"] for t in tags])
            order = np.argsort(-contrib, kind="stable")[: self.config.top_culprits]
            heads = np.array([row[f"episode_head__{h}"] for h in HEADS])
            shares = heads / heads.sum() if heads.sum() > 0 else np.zeros(len(HEADS))
            records.append({
                "episode_id": int(row["episode_id"]),
                "kind": row["episode_kind"],
                "start": row["episode_start"],
                "end": when,
                "onset": row["episode_onset"],
                "open": bool(when == scores.index[-1]),
                "peak_z": float(row["episode_peak_z"]),
                "mean_z": float(row["episode_sum_z"] / row["episode_points"]),
                "duration": when - row["episode_start"],
                "points": int(row["episode_points"]),
                "regime": row["episode_regime"],
                "novel_share": float(row["episode_novel_points"] / row["episode_points"]),
                "alert_share": float(row["episode_alert_points"] / row["episode_points"]),
                "culprits": [tags[k] for k in order if contrib[k] > 0],
                **{f"share_{h}": float(s) for h, s in zip(HEADS, shares)},
            })
        return pd.DataFrame.from_records(records, columns=EPISODE_COLUMNS)


def _episode_field(ids: np.ndarray, meta: dict, k: int) -> np.ndarray:
    """Field k of each point's episode (start ns, onset ns, regime) as int64; NaT's integer outside."""
    out = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
    for episode_id, fields in meta.items():
        if fields[k] is not None:
            out[ids == episode_id] = fields[k]
    return out


def _nullable(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), np.asarray(missing, dtype=bool))
