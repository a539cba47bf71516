"""Traffic on a Lambda alias, as CloudWatch would see it: the metrics of invocations that did not run.

On the local stack `lambda:invoke` runs no code (moto without Docker), so nothing would ever write the
`AWS/Lambda` metrics a release gate reads. This module writes them the way Lambda does for calls made
through an alias: it reads the alias (`get_alias`: `FunctionVersion` and
`RoutingConfig.AdditionalVersionWeights`), splits the invocations between the versions by those
weights, and publishes `Invocations`, `Errors` and `Duration` under the dimension sets Lambda uses:

- `FunctionName` + `Resource` (= `function:alias`) + `ExecutedVersion`: per version behind the alias;
- `FunctionName` + `Resource`: the alias as a whole;
- `FunctionName`: the function as a whole.

Nothing is random: a version's share, its errors and its duration follow the given weights and rates
exactly over time (fractions carry over from one tick to the next), so a test knows what the gate
will read. Error rates are fractions (0.2 = one call in five). Tests and the demo use it; production
never does: real Lambda writes these metrics, and CloudWatch refuses PutMetricData to an `AWS/`
namespace, so this only works against the local stack.

    python -m postlaunch.lambda_traffic patient-engagement-api --rate 60 --errors 2=0.2 --seconds 120
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.integrations.cloudwatch import datum, put_metric_data

NAMESPACE = "AWS/Lambda"
DEFAULT_DURATION_MS = 120.0


def alias_weights(lambda_client: Any, function: str, alias: str) -> dict[str, float]:
    """Share of the alias's traffic per version, read from Lambda (weights sum to 1)."""
    found = lambda_client.get_alias(FunctionName=function, Name=alias)
    extra = {
        str(v): float(w)
        for v, w in ((found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()
    }
    primary = str(found["FunctionVersion"])
    weights = {primary: max(0.0, 1.0 - sum(extra.values()))}
    for version, weight in extra.items():
        weights[version] = weights.get(version, 0.0) + weight
    return weights


@dataclass
class _Carry:
    """Fractions not yet published, so that rates hold exactly over many small ticks."""

    invocations: dict[tuple[str, str], float] = field(default_factory=dict)
    errors: dict[tuple[str, str], float] = field(default_factory=dict)

    def take(self, bucket: dict[tuple[str, str], float], key: tuple[str, str], expected: float) -> int:
        total = bucket.get(key, 0.0) + expected
        # A tiny epsilon so 0.1 * 10 counts as 1, not 0.9999999.
        whole = math.floor(total + 1e-9)
        bucket[key] = total - whole
        return whole


def _fractions(values: Mapping[str, float] | None, name: str) -> dict[str, float]:
    out = {str(k): float(v) for k, v in (values or {}).items()}
    bad = {k: v for k, v in out.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"{name} are fractions between 0 and 1 (0.05 = 5 %), got {bad}")
    return out


class Traffic:
    """Simulated callers of `alias` on each function; `tick()` publishes one interval of traffic."""

    def __init__(
        self,
        functions: Iterable[str],
        alias: str,
        *,
        invocations_per_second: float,
        error_rate_by_version: Mapping[str, float] | None = None,
        duration_ms_by_version: Mapping[str, float] | None = None,
        cloudwatch: Any,
        lambda_client: Any,
    ):
        self.functions = list(functions)
        self.alias = alias
        self.invocations_per_second = float(invocations_per_second)
        # Keys are version numbers as Lambda names them ("2").
        self.error_rate_by_version = _fractions(error_rate_by_version, "error rates")
        self.duration_ms_by_version = {str(k): float(v) for k, v in (duration_ms_by_version or {}).items()}
        self.cloudwatch = cloudwatch
        self.lambda_client = lambda_client
        self._carry = _Carry()
        self._lock = threading.Lock()
        self.totals: dict[tuple[str, str], dict[str, int]] = {}

    def set_profile(
        self,
        *,
        error_rate_by_version: Mapping[str, float] | None = None,
        duration_ms_by_version: Mapping[str, float] | None = None,
    ) -> None:
        """Change error rates or durations while the traffic runs (e.g. the new build turns bad)."""
        with self._lock:
            if error_rate_by_version is not None:
                self.error_rate_by_version = _fractions(error_rate_by_version, "error rates")
            if duration_ms_by_version is not None:
                self.duration_ms_by_version = {str(k): float(v) for k, v in duration_ms_by_version.items()}

    def tick(self, now: datetime | None = None, seconds: float = 1.0) -> dict[str, dict[str, dict[str, int]]]:
        """Publish `seconds` worth of traffic timestamped `now`; returns {function: {version: counts}}."""
        at = (now or datetime.now(UTC)).astimezone(UTC)
        datums: list[dict[str, Any]] = []
        published: dict[str, dict[str, dict[str, int]]] = {}
        with self._lock:
            for function in self.functions:
                weights = alias_weights(self.lambda_client, function, self.alias)
                resource = f"{function}:{self.alias}"
                per_version: dict[str, dict[str, int]] = {}
                total_inv = total_err = 0
                duration_sum = 0.0
                duration_min = math.inf
                duration_max = 0.0
                for version, weight in sorted(weights.items()):
                    key = (function, version)
                    expected = self.invocations_per_second * seconds * weight
                    invocations = self._carry.take(self._carry.invocations, key, expected)
                    rate = self.error_rate_by_version.get(version, 0.0)
                    errors = self._carry.take(self._carry.errors, key, invocations * rate)
                    errors = min(errors, invocations)
                    duration = self.duration_ms_by_version.get(version, DEFAULT_DURATION_MS)
                    per_version[version] = {"invocations": invocations, "errors": errors}
                    tally = self.totals.setdefault(key, {"invocations": 0, "errors": 0})
                    tally["invocations"] += invocations
                    tally["errors"] += errors
                    if invocations == 0:
                        # Lambda publishes nothing for a version nobody called.
                        continue
                    dims = (("FunctionName", function), ("Resource", resource), ("ExecutedVersion", version))
                    datums += _datums(
                        at, dims, invocations, errors, duration, duration, invocations * duration
                    )
                    total_inv += invocations
                    total_err += errors
                    duration_sum += invocations * duration
                    duration_min = min(duration_min, duration)
                    duration_max = max(duration_max, duration)
                if total_inv:
                    for dims in (
                        (("FunctionName", function), ("Resource", resource)),
                        (("FunctionName", function),),
                    ):
                        datums += _datums(
                            at, dims, total_inv, total_err, duration_min, duration_max, duration_sum
                        )
                published[function] = per_version
        if datums:
            put_metric_data(NAMESPACE, datums, client=self.cloudwatch)
        return published


def _datums(
    at: datetime,
    dims: tuple[tuple[str, str], ...],
    invocations: int,
    errors: int,
    duration_min: float,
    duration_max: float,
    duration_sum: float,
) -> list[dict[str, Any]]:
    # Duration goes out as a statistic set (one datum for many calls): Average, Minimum, Maximum and
    # SampleCount hold; percentiles need the raw values, which real Lambda sends and this does not.
    return [
        datum("Invocations", invocations, timestamp=at, unit="Count", dimensions=dims),
        datum("Errors", errors, timestamp=at, unit="Count", dimensions=dims),
        datum(
            "Duration",
            0.0,
            timestamp=at,
            unit="Milliseconds",
            dimensions=dims,
            statistic_values={
                "SampleCount": float(invocations),
                "Sum": float(duration_sum),
                "Minimum": float(duration_min),
                "Maximum": float(duration_max),
            },
        ),
    ]


def simulate(
    functions: Iterable[str],
    alias: str,
    *,
    invocations_per_second: float,
    error_rate_by_version: Mapping[str, float] | None = None,
    duration_ms_by_version: Mapping[str, float] | None = None,
    cloudwatch: Any,
    lambda_client: Any,
    now: datetime | None = None,
    seconds: float = 1.0,
) -> dict[str, dict[str, dict[str, int]]]:
    """One tick of traffic (no carry between calls: use `Traffic` or `TrafficThread` for many)."""
    return Traffic(
        functions,
        alias,
        invocations_per_second=invocations_per_second,
        error_rate_by_version=error_rate_by_version,
        duration_ms_by_version=duration_ms_by_version,
        cloudwatch=cloudwatch,
        lambda_client=lambda_client,
    ).tick(now, seconds)


class TrafficThread(threading.Thread):
    """Calls `traffic.tick()` every `interval` seconds until `stop()`; usable as a context manager.

    Each tick reads the alias again, so the split follows the weights a rollout sets. A failed tick
    (the moto server going away at the end of a session) is remembered in `error`, not raised.
    """

    def __init__(self, traffic: Traffic, interval: float = 1.0):
        super().__init__(name=f"traffic-{traffic.alias}", daemon=True)
        self.traffic = traffic
        self.interval = interval
        self.ticks = 0
        self.error: Exception | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            started = datetime.now(UTC)
            try:
                self.traffic.tick(started, self.interval)
                self.ticks += 1
            except Exception as exc:  # noqa: BLE001 - a background thread must outlive one bad tick
                self.error = exc
            elapsed = (datetime.now(UTC) - started).total_seconds()
            self._stopped.wait(max(0.0, self.interval - elapsed))

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)

    def __enter__(self) -> TrafficThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pairs(values: tuple[str, ...], name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        version, _, number = item.partition("=")
        try:
            out[version.strip()] = float(number)
        except ValueError as exc:
            raise SystemExit(f"{name}: expected VERSION=NUMBER, got {item!r}") from exc
    return out


def main(argv: list[str] | None = None) -> None:
    """Traffic on the local stack's aliases while a rollout runs (AWS_ENDPOINT_URL from `make run`)."""
    import argparse
    import os
    import time

    from postlaunch.localstack import client

    parser = argparse.ArgumentParser(prog="python -m postlaunch.lambda_traffic", description=main.__doc__)
    parser.add_argument("functions", nargs="+")
    parser.add_argument("--alias", default="live")
    parser.add_argument("--rate", type=float, default=20.0, help="invocations per second per function")
    parser.add_argument("--errors", nargs="*", default=(), metavar="VERSION=FRACTION")
    parser.add_argument("--duration", nargs="*", default=(), metavar="VERSION=MS")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise SystemExit(
            "AWS_ENDPOINT_URL is not set: this writes AWS/Lambda metrics to the local stack only."
        )
    traffic = Traffic(
        args.functions,
        args.alias,
        invocations_per_second=args.rate,
        error_rate_by_version=_pairs(tuple(args.errors), "--errors"),
        duration_ms_by_version=_pairs(tuple(args.duration), "--duration"),
        cloudwatch=client("cloudwatch", endpoint),
        lambda_client=client("lambda", endpoint),
    )
    with TrafficThread(traffic) as thread:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            shown = ", ".join(
                f"{fn} v{v}: {t['invocations']} calls {t['errors']} errors"
                for (fn, v), t in sorted(traffic.totals.items())
            )
            print(
                f"{thread.ticks} ticks; {shown}" + (f"; last error: {thread.error}" if thread.error else "")
            )


if __name__ == "__main__":
    main()
