"""One Logger, Tracer and Metrics per function; service name and namespace come from the
POWERTOOLS_* environment variables set in template.yaml.

The tracer is lazy: Powertools' Tracer imports and patches the X-Ray SDK when it is constructed
(~110 ms of every cold start measured, `make bench`), even when tracing is disabled. Here the
real Tracer is only built on the first traced call, and never when Powertools would disable
tracing anyway (POWERTOOLS_TRACE_DISABLED, or not running in Lambda), so an import of a handler
costs nothing for tracing and a disabled tracer never loads the SDK.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics

from pipeline.redaction import RedactingFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

_TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled), without importing the tracer."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    if not environ.get("LAMBDA_TASK_ROOT"):
        return False
    return not (environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))


class LazyTracer:
    """The two decorators the functions use, with the real Tracer built on first use."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return tracing_enabled()

    def real(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                from aws_lambda_powertools import Tracer

                self._tracer = Tracer()
            return self._tracer

    @overload
    def capture_lambda_handler(self, handler: F) -> F: ...
    @overload
    def capture_lambda_handler(self, handler: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_lambda_handler(self, handler: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """`@tracer.capture_lambda_handler` or `@tracer.capture_lambda_handler(capture_response=...)`,
        as with Powertools' Tracer."""
        if handler is None:
            return lambda function: self._lazily("capture_lambda_handler", function, options)
        return self._lazily("capture_lambda_handler", handler, options)

    @overload
    def capture_method(self, method: F) -> F: ...
    @overload
    def capture_method(self, method: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_method(self, method: F | None = None, **options: Any) -> F | Callable[[F], F]:
        if method is None:
            return lambda function: self._lazily("capture_method", function, options)
        return self._lazily("capture_method", method, options)

    def _lazily(self, decorator: str, function: F, options: dict[str, Any]) -> F:
        traced: list[Callable[..., Any]] = []

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not tracing_enabled():
                return function(*args, **kwargs)
            if not traced:
                traced.append(getattr(self.real(), decorator)(function, **options))
            return traced[0](*args, **kwargs)

        return call  # type: ignore[return-value]


# Every line is redacted on its way out: a signed URL in an exception text never reaches the logs.
logger = Logger(logger_formatter=RedactingFormatter())
tracer = LazyTracer()
metrics = Metrics()
