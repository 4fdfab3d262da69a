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

    A run resumed by `BackupAndRestore` (its first epoch is not the first)
    continues the `metrics.json` of the run it resumes: the epochs before the
    resumed one are kept, later ones (from a kill after they were logged but
    before the next backup) are dropped and logged again, and "best" is the
    best of the kept epochs.

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
        self._started = False

    def _value(self, logs: dict[str, Any]) -> float:
        return logs.get(self.monitor, logs.get("accuracy", -math.inf))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started:
            return
        self._started = True
        path = self.directory / "metrics.json"
        if epoch > 0 and path.is_file():  # resumed: epoch `epoch + 1` runs next
            done = json.loads(path.read_text()).get("epochs", [])
            self.history = [e for e in done if e.get("epoch", math.inf) <= epoch]
            self.best = max((self._value(e) for e in self.history), default=-math.inf)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from ghnq_tf._io import atomic_write_text

        logs = {k: float(v) for k, v in (logs or {}).items()}
        ghn = self.model.ghn
        self.directory.mkdir(parents=True, exist_ok=True)
        ghn.save(str(self.directory / "ghn_last.keras"))
        value = self._value(logs)
        if value > self.best:
            self.best = value
            ghn.save(str(self.directory / "ghn_best.keras"))
        self.history.append({"epoch": epoch + 1, **logs})
        summary = {"best": {self.monitor: self.best}, "epochs": self.history}
        atomic_write_text(self.directory / "metrics.json", json.dumps(summary, indent=2) + "\n")
