"""The `>>>` examples in docstrings run and print what they show.

Only the modules listed here hold `>>>` examples that run quickly; elsewhere
examples are plain code blocks.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pathlib

import pytest

import ghnq_tf

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = (
    "ghnq_tf.data.batches",
    "ghnq_tf.data.digits",
    "ghnq_tf.data.preprocessing",
    "ghnq_tf.data.registry",
    "ghnq_tf.evaluation.baselines",
    "ghnq_tf.evaluation.cli",
    "ghnq_tf.hypernet.kernel_mix",
    "ghnq_tf.hypernet.tiling",
    "ghnq_tf.prediction.predict",
    "ghnq_tf.quant.bits",
    "ghnq_tf.quant.configs",
    "ghnq_tf.search_space.builder",
    "ghnq_tf.search_space.cost",
    "ghnq_tf.search_space.ops",
    "ghnq_tf.search_space.spec",
    "ghnq_tf.search_space.splits",
    "ghnq_tf.search_space.summary",
    "ghnq_tf.training.config",
    "ghnq_tf.tuning.bit_search",
    "ghnq_tf.tuning.config",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name configs/ by their relative path
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name, extraglobs={"gq": ghnq_tf})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has no `>>>` example: drop it from MODULES"
    assert results.failed == 0, report.getvalue()
