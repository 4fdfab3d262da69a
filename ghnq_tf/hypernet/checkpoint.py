"""Saving and loading GHNs (Keras `.keras` format), and the bundled registry."""

from __future__ import annotations

import hashlib
import json
import os
import re
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
            + _load_failure_cause(err)
        ) from err
    if not isinstance(model, GHN):
        raise ValueError(f"{str(source)!r} holds a {type(model).__name__}, not a ghnq_tf GHN.")
    return model


# Keras' message when a layer finds fewer (or more) saved variables than it has.
_VARIABLE_COUNT = re.compile(r"Layer '([^']+)' expected (\d+) variables?, but received (\d+)")


def _load_failure_cause(err: Exception) -> str:
    """Why Keras could not load an intact-looking `.keras` archive, for the user."""
    count = _VARIABLE_COUNT.search(str(err))
    if count and count.group(3) == "0" and count.group(1).startswith("head_"):
        return (
            f"The archive is readable but holds no weights for {count.group(1)!r}: it was "
            "saved by a GHN that had not yet predicted a parameter of that kind (earlier "
            "ghnq_tf versions created a decoder head only then, and saved without it). It "
            "cannot be restored as saved; save the GHN again with this version, which "
            "writes every head."
        )
    if count or "Shape mismatch" in str(err) or "incompatible" in str(err):
        return (
            "The archive is readable, but its weights do not fit the GHN its config.json "
            "describes: it was written by an incompatible ghnq_tf version or edited."
        )
    return "The file is damaged (truncated or corrupt?); save the GHN again."


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_manifests(
    *, directory: str | os.PathLike | None = None
) -> dict[str, dict[str, Any]]:
    """Bundled checkpoints: name → manifest (config, command, data, metrics, sha256).

    Each manifest also gets `path`, the checkpoint file it names.

    Args:
        directory: the registry folder (default: the package's `ghnq_tf/pretrained/`).
    """
    folder = Path(PRETRAINED_DIR if directory is None else directory)
    manifests = {}
    for manifest in sorted(folder.glob("*.json")):
        data = json.loads(manifest.read_text())
        file = Path(data.get("file", f"{data['name']}.keras")).name  # never outside `folder`
        manifests[data["name"]] = {**data, "path": str(folder / file)}
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


def bundle_run(
    run_dir: str | os.PathLike,
    name: str,
    *,
    command: str,
    dest: str | os.PathLike | None = None,
) -> Path:
    """Copies a training run's best GHN into the registry, with a manifest.

    The manifest (`<name>.json`) records the run's config, the command that
    produced it, its data, its final metrics, and the checkpoint file it
    describes with its sha256. Every write replaces one file atomically and
    the manifest is what switches bundles: the new checkpoint is first staged
    as `<name>.<sha256[:12]>.keras`, the manifest then names it, and only then
    is `<name>.keras` replaced and named. A bundle killed at any point leaves
    the old bundle or the new one, each matching its manifest; the next
    bundle of that name removes what a killed one left behind.

    Args:
        run_dir: a `ghnq-tf train` output directory.
        name: the name for `GHN.from_pretrained` (letters, digits, `_`, `-`).
        command: the command that produced the run.
        dest: the registry folder (default: the package's `ghnq_tf/pretrained/`,
            the only one `GHN.from_pretrained` reads).

    Returns:
        The bundled checkpoint's path.
    """
    from ghnq_tf._io import atomic_write_bytes

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(
            f"`name` must be letters, digits, '_' or '-' (it names files). Received: name={name!r}"
        )
    run = Path(run_dir)
    source = run / "ghn_best.keras"
    if not source.is_file():
        raise FileNotFoundError(f"No {source} to bundle: train first (`ghnq-tf train`).")
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    data = source.read_bytes()  # one read: every copy below is these bytes
    digest = hashlib.sha256(data).hexdigest()
    load_ghn(source)  # refuse to bundle a file that does not load
    if sha256_of(source) != digest:
        raise RuntimeError(f"{source} changed while being bundled (is a run writing it?): retry.")
    folder = Path(PRETRAINED_DIR if dest is None else dest)
    folder.mkdir(parents=True, exist_ok=True)
    staged, final = folder / f"{name}.{digest[:12]}.keras", folder / f"{name}.keras"
    manifest = {
        "name": name,
        "file": final.name,
        "sha256": digest,
        "bytes": len(data),
        "command": command,
        "config": config,
        "data": config.get("data"),
        "metrics": metrics,
    }
    atomic_write_bytes(staged, data)
    _write_manifest(folder, {**manifest, "file": staged.name})  # the new bundle is live
    atomic_write_bytes(final, data)  # no manifest names it now
    _write_manifest(folder, manifest)
    _remove_leftovers(folder, name, keep=final.name)
    return final


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    from ghnq_tf._io import atomic_write_text

    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write_text(folder / f"{manifest['name']}.json", text)


def _remove_leftovers(folder: Path, name: str, *, keep: str) -> None:
    """Removes staged copies and temporary files of bundle `name` but `keep`."""
    base = re.escape(name)
    leftover = re.compile(
        rf"{base}\.[0-9a-f]{{12}}\.keras|{base}\.keras\.tmp"
        rf"|\.{base}\.([0-9a-f]{{12}}\.)?(keras|json)\..+\.tmp"
    )
    for path in folder.iterdir():
        if path.name != keep and leftover.fullmatch(path.name):
            path.unlink(missing_ok=True)
