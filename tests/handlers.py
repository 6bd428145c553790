"""A function's handler module (functions/<name>/app.py) loaded in this process, as Lambda's cold
start loads it, for the unit tests that drive a handler with a sample event and fakes at its seams."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from layer_path import ROOT

# The template sets it for the callbacks function; the code has no default for a resource.
CALLBACK_DEAD_LETTERS = "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks-dlq"


def load_app(function: str) -> ModuleType:
    """Import functions/<function>/app.py afresh (its module-level settings read now)."""
    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def callback_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The callbacks function with the dead-letter queue its template Environment names."""
    module = load_app("callback")
    settings = module.settings.model_copy(update={"callback_dead_letter_queue_url": CALLBACK_DEAD_LETTERS})
    monkeypatch.setattr(module, "settings", settings)
    monkeypatch.setattr(module, "failed_attempts", module.retry_policy.callback_attempts(settings))
    return module
