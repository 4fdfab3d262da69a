"""Keras callbacks for GHN training."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
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

    Each epoch's entry also holds `wall_seconds` and `cpu_seconds`: the
    training process's wall-clock and CPU time (`time.process_time`, all
    threads) from the run's start to the end of that epoch, summed over
    resumed runs (time lost to a kill, between the last backup and the kill,
    is not counted). They put learning curves on a compute axis.

    Args:
        directory: where `ghn_last.keras`, `ghn_best.keras` and
            `metrics.json` are written (atomically).
        monitor: the logged metric that decides "best" (higher is better);
            falls back to `accuracy` when validation is off.
        snapshot_epochs: epochs (1-based) after which the GHN is also kept
            as `snapshots/ghn_epoch<N>.keras`, for learning curves.
    """

    def __init__(
        self,
        directory: str,
        *,
        monitor: str = "val_accuracy",
        snapshot_epochs: Iterable[int] = (),
    ) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.snapshot_epochs = frozenset(int(e) for e in snapshot_epochs)
        self.best = -math.inf
        self.history: list[dict[str, Any]] = []
        self._started = False
        self._clock = (0.0, 0.0, 0.0, 0.0)  # wall, cpu at the start; wall, cpu before it

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
        last = self.history[-1] if self.history else {}
        self._clock = (
            time.perf_counter(),
            time.process_time(),
            float(last.get("wall_seconds", 0.0)),
            float(last.get("cpu_seconds", 0.0)),
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from ghnq_tf._io import atomic_write_text

        logs = {k: float(v) for k, v in (logs or {}).items()}
        wall, cpu, wall_before, cpu_before = self._clock
        logs["wall_seconds"] = wall_before + time.perf_counter() - wall
        logs["cpu_seconds"] = cpu_before + time.process_time() - cpu
        ghn = self.model.ghn
        self.directory.mkdir(parents=True, exist_ok=True)
        ghn.save(str(self.directory / "ghn_last.keras"))
        if epoch + 1 in self.snapshot_epochs:
            (self.directory / "snapshots").mkdir(exist_ok=True)
            ghn.save(str(self.directory / "snapshots" / f"ghn_epoch{epoch + 1}.keras"))
        value = self._value(logs)
        if value > self.best:
            self.best = value
            ghn.save(str(self.directory / "ghn_best.keras"))
        self.history.append({"epoch": epoch + 1, **logs})
        summary = {"best": {self.monitor: self.best}, "epochs": self.history}
        atomic_write_text(self.directory / "metrics.json", json.dumps(summary, indent=2) + "\n")
