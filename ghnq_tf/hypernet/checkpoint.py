"""Saving and loading GHNs (Keras `.keras` format), and the bundled registry."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ghnq_tf._io import publish

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


def save_ghn(ghn: Any, path: str | os.PathLike) -> Path:
    """Writes `ghn` to `path` (`.keras`) atomically: temp file, then rename."""
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(
            "A GHN is saved in Keras format: `path` must end in '.keras'. "
            f"Received: path={str(path)!r}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    ghn.build_all()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".keras", dir=target.parent)
    os.close(fd)
    try:
        super(type(ghn), ghn).save(tmp, overwrite=True)
        publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_ghn(path: str | os.PathLike) -> Any:
    """Reads a GHN written by `GHN.save`, with clear errors for bad files."""
    from ghnq_tf._keras import keras
    from ghnq_tf.hypernet.ghn import GHN

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"No GHN checkpoint at {str(source)!r}. Pass the path of a file written by "
            "`GHN.save(...)`, or a bundled name to `GHN.from_pretrained`."
        )
    if not zipfile.is_zipfile(source):
        raise ValueError(
            f"{str(source)!r} is not a Keras `.keras` archive (truncated or corrupt?). "
            "Save the GHN again with `GHN.save(path)`."
        )
    try:
        model = keras.models.load_model(source, compile=False)
    except Exception as err:  # Keras raises many types for damaged archives
        raise ValueError(
            f"Could not read a GHN from {str(source)!r}: {type(err).__name__}: {err}. "
            "The file is damaged or was written by an incompatible version; save it again."
        ) from err
    if not isinstance(model, GHN):
        raise ValueError(f"{str(source)!r} holds a {type(model).__name__}, not a ghnq_tf GHN.")
    return model


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_manifests() -> dict[str, dict[str, Any]]:
    """Bundled checkpoints: name → manifest (config, command, data, metrics, sha256)."""
    manifests = {}
    for manifest in sorted(PRETRAINED_DIR.glob("*.json")):
        data = json.loads(manifest.read_text())
        manifests[data["name"]] = {**data, "path": str(manifest.with_suffix(".keras"))}
    return manifests


def load_pretrained(name: str) -> Any:
    """Loads the bundled GHN `name`, checking its sha256 against its manifest."""
    manifests = pretrained_manifests()
    if name not in manifests:
        available = ", ".join(sorted(manifests)) or "none are bundled in this version yet"
        raise ValueError(
            f"Unknown pretrained GHN {name!r}. Available: {available}. A GHN trained with "
            "`ghnq-tf train` can be loaded with `gq.GHN.load(path)`."
        )
    manifest = manifests[name]
    actual = sha256_of(manifest["path"])
    if actual != manifest["sha256"]:
        raise ValueError(
            f"The bundled checkpoint {manifest['path']!r} does not match its manifest "
            f"(sha256 {actual[:12]}… != {manifest['sha256'][:12]}…): reinstall ghnq_tf."
        )
    return load_ghn(manifest["path"])


def bundle_run(run_dir: str | os.PathLike, name: str, *, command: str) -> Path:
    """Copies a training run's best GHN into the package registry with a manifest.

    The manifest records the run's config, the command that produced it, its
    data, its final metrics and the checkpoint's sha256.
    """
    import shutil

    from ghnq_tf._io import atomic_write_text

    run = Path(run_dir)
    source = run / "ghn_best.keras"
    if not source.is_file():
        raise FileNotFoundError(f"No {source} to bundle: train first (`ghnq-tf train`).")
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    load_ghn(source)  # refuse to bundle a file that does not load
    PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
    target = PRETRAINED_DIR / f"{name}.keras"
    tmp = target.with_suffix(".keras.tmp")
    shutil.copyfile(source, tmp)
    publish(tmp, target)
    manifest = {
        "name": name,
        "file": target.name,
        "sha256": sha256_of(target),
        "bytes": target.stat().st_size,
        "command": command,
        "config": config,
        "data": config.get("data"),
        "metrics": metrics,
    }
    atomic_write_text(PRETRAINED_DIR / f"{name}.json", json.dumps(manifest, indent=2) + "\n")
    return target
