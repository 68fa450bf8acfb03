"""The seven scoring heads in six artifacts, one head per module on the small base in `base.py`."""

from acm_assets.detectors.artifacts import ModelType
from acm_assets.detectors.heads.ar1 import AR1Head
from acm_assets.detectors.heads.base import Head
from acm_assets.detectors.heads.gmm import GMMHead
from acm_assets.detectors.heads.iforest import IForestHead
from acm_assets.detectors.heads.mahalanobis import MahalanobisHead
from acm_assets.detectors.heads.omr import OMRHead
from acm_assets.detectors.heads.pca import PCAHead

HEAD_CLASSES: dict[ModelType, type[Head]] = {
    ModelType.ar1_params: AR1Head,
    ModelType.pca_model: PCAHead,
    ModelType.iforest_model: IForestHead,
    ModelType.gmm_model: GMMHead,
    ModelType.mhal_params: MahalanobisHead,
    ModelType.omr_model: OMRHead,
}

__all__ = ["HEAD_CLASSES", "AR1Head", "GMMHead", "Head", "IForestHead", "MahalanobisHead", "OMRHead", "PCAHead"]
