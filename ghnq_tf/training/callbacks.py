"""Keras callbacks for GHN training."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ghnq_tf._keras import keras


class SaveGHN(keras.callbacks.Callback):
    """Saves the trained GHN (`.keras`) after every epoch, and the best one.

    Example:
        trainer.fit(ds, callbacks=[SaveGHN("runs/a", monitor="val_accuracy")])

    Args:
        directory: where `ghn_last.keras`, `ghn_best.keras` and
            `metrics.json` are written (atomically).
        monitor: the logged metric that decides "best" (higher is better);
            falls back to `accuracy` when validation is off.
    """

    def __init__(self, directory: str, *, monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.best = -math.inf
        self.history: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from ghnq_tf._io import atomic_write_text

        logs = {k: float(v) for k, v in (logs or {}).items()}
        ghn = self.model.ghn
        self.directory.mkdir(parents=True, exist_ok=True)
        ghn.save(str(self.directory / "ghn_last.keras"))
        value = logs.get(self.monitor, logs.get("accuracy", -math.inf))
        if value > self.best:
            self.best = value
            ghn.save(str(self.directory / "ghn_best.keras"))
        self.history.append({"epoch": epoch + 1, **logs})
        summary = {"best": {self.monitor: self.best}, "epochs": self.history}
        atomic_write_text(self.directory / "metrics.json", json.dumps(summary, indent=2) + "\n")
