"""Isolation forest: multivariate outliers among the tags' values and spreads."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from acm_assets.detectors import rowstable
from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.base import Head

_FOREST_CHUNK = 4096


class IForestHead(Head):
    """IsolationForest (fixed seed) on the regime-normalised tags and their window spreads, stored as complete
    binary trees of depth log2(max_samples): int16 features, float32 thresholds, float32 leaf path lengths
    (~1 KB a tree instead of ~40 KB for a pickled scikit-learn tree)."""

    model_type = ModelType.iforest_model
    heads = ("iforest",)

    def fit(self, x, config, context) -> IForestHead:
        self.trees_, self.samples_, self.seed_ = config.iforest_trees, config.iforest_samples, config.seed
        self.fit_parameters(x)
        self.params = {**self.params, "trees": self.trees_, "max_samples": self.max_samples_, "depth": self.depth_}
        return self

    def fit_parameters(self, x):
        samples = min(self.samples_, len(x))
        forest = IsolationForest(n_estimators=self.trees_, max_samples=samples, random_state=self.seed_).fit(x)
        depth = int(np.ceil(np.log2(max(samples, 2))))
        inner, leaves = 2**depth - 1, 2**depth
        self.max_samples_, self.depth_ = samples, depth
        self.feature_ = np.zeros((self.trees_, inner), dtype=np.int16)
        self.threshold_ = np.full((self.trees_, inner), np.inf, dtype=np.float32)
        self.leaf_ = np.zeros((self.trees_, leaves), dtype=np.float32)
        for t, (tree, features) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
            self._copy_tree(t, tree.tree_, np.asarray(features), depth)
        self.norm_ = float(_path_length(samples))

    def _copy_tree(self, t, tree, features, depth):
        stack = [(0, 0, 0)]  # (scikit-learn node, heap slot, depth)
        while stack:
            node, slot, d = stack.pop()
            left, right = tree.children_left[node], tree.children_right[node]
            if left != -1 and d < depth:
                self.feature_[t, slot] = features[tree.feature[node]]
                self.threshold_[t, slot] = _float32_at_most(tree.threshold[node])
                stack.append((left, 2 * slot + 1, d + 1))
                stack.append((right, 2 * slot + 2, d + 1))
                continue
            value = d + _path_length(tree.n_node_samples[node])
            for _ in range(depth - d):  # a shallow leaf: its always-left path reaches the bottom row
                slot = 2 * slot + 1
            self.leaf_[t, slot - (2**depth - 1)] = value

    def parts(self, x):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        trees, inner = self.feature_.shape
        feature = self.feature_.astype(np.int32).ravel()
        threshold, leaf = self.threshold_.ravel(), self.leaf_.ravel()
        tree_inner = (np.arange(trees, dtype=np.int32) * inner)[None, :]
        tree_leaf = (np.arange(trees, dtype=np.int32) * (inner + 1))[None, :]
        depth = np.empty(x32.shape[0])
        for lo in range(0, x32.shape[0], _FOREST_CHUNK):  # chunks keep the (rows x trees) work in cache
            chunk = x32[lo : lo + _FOREST_CHUNK]
            flat_x = chunk.ravel()
            rows = (np.arange(chunk.shape[0], dtype=np.int32) * chunk.shape[1])[:, None]
            slot = np.zeros((chunk.shape[0], trees), dtype=np.int32)
            for _ in range(self.depth_):
                at = slot + tree_inner
                slot = 2 * slot + 1 + (flat_x[rows + feature[at]] > threshold[at])
            depth[lo : lo + _FOREST_CHUNK] = rowstable.row_sum(leaf[slot - inner + tree_leaf].astype(np.float64))
        return {"iforest": np.exp2(-depth / (trees * self.norm_))}


def _float32_at_most(threshold: float) -> np.float32:
    """The largest float32 <= threshold, so float32 x <= it exactly when x <= threshold (sklearn's rule)."""
    value = np.float32(threshold)
    return np.nextafter(value, np.float32(-np.inf)) if value > threshold else value


def _path_length(n) -> float:
    """Average path length of an unsuccessful BST search among n points (the IsolationForest c(n))."""
    n = float(n)
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n
