"""The seed system's filesystem layout, `v<N>/<model_type>.joblib` + `manifest.json`, for debugging and
migration: export a stored version to it, read one back (or the newest `v<N>` of a legacy artifacts tree)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from acm_assets.registry import integrity
from acm_assets.registry.equipment import Equipment
from acm_assets.registry.errors import RegistryError
from acm_assets.registry.store import ModelStore, TrainingInfo

_VERSION_DIR = re.compile(r"v(\d+)")


def export_version(store: ModelStore, equipment: Equipment, version: int | None, out_dir: Path) -> Path:
    """Write the verified bytes of a complete version (never unpickled) and its manifest; returns v<N>/."""
    manifest = store.manifest(equipment, version)
    target = Path(out_dir) / f"v{manifest['version']}"
    if target.exists():
        raise RegistryError(f"{target} already exists: not overwriting an export of equipment {equipment}")
    target.mkdir(parents=True)
    for model_type in manifest["saved_models"]:
        (target / f"{model_type}.joblib").write_bytes(store.load_bytes(equipment, model_type, manifest["version"]))
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return target


def read_version_folder(path: Path) -> tuple[Path, dict[str, tuple[bytes, TrainingInfo]]]:
    """The joblib files of a version folder with what its manifest says about each; bytes stay unread
    by pickle. A folder without joblib files is searched for its newest `v<N>` (legacy artifacts tree)."""
    folder = _version_folder(Path(path))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    files = {file.stem: file for file in sorted(folder.glob("*.joblib"))}
    listed = set(manifest.get("saved_models", files))
    if listed - set(files):
        raise RegistryError(f"{folder}: manifest.json lists {', '.join(sorted(listed - set(files)))} without a .joblib file")
    models = {}
    for model_type, file in files.items():
        payload = file.read_bytes()
        entry = manifest.get("models", {}).get(model_type, {})
        expected = entry.get("sha256")
        if expected and integrity.sha256_hex(payload) != expected:
            raise RegistryError(f"{file}: sha256 differs from manifest.json (version {manifest.get('version')})")
        models[model_type] = (payload, _training_info(manifest, entry, model_type))
    return folder, models


def _version_folder(path: Path) -> Path:
    if not path.is_dir():
        raise RegistryError(f"{path} is not a folder")
    if any(path.glob("*.joblib")):
        return path
    candidates = [
        folder
        for folder in path.rglob("v*")
        if folder.is_dir() and _VERSION_DIR.fullmatch(folder.name) and any(folder.glob("*.joblib"))
    ]
    if not candidates:
        raise RegistryError(f"{path} holds no .joblib files and no v<N> folder with any")
    return max(candidates, key=lambda folder: int(folder.name[1:]))


def _training_info(manifest: dict, entry: dict, model_type: str) -> TrainingInfo:
    """Per-model facts from our manifest (`models`, with what each was fitted on), else the seed's
    top-level fields."""
    params = entry.get("params", manifest.get("params", {}).get(model_type, {}))
    return TrainingInfo(
        params=params if isinstance(params, dict) else {},
        train_rows=entry.get("train_rows", manifest.get("train_rows")),
        train_sensors=entry.get("train_sensors", manifest.get("train_sensors")),
        config_signature=entry.get("config_signature", manifest.get("config_signature")),
        trained_on=entry.get("trained_on"),
        upstream=entry.get("upstream"),
    )
