"""The traffic simulator writes AWS/Lambda metrics the way Lambda does for an alias with weights, and
CloudWatch (moto) hands them back per version over sub-minute windows."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from postlaunch.lambda_traffic import Traffic, TrafficThread, alias_weights, simulate


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", source)
    return buf.getvalue()


def make_function(stack, *, new_weight: float | None = None) -> tuple[str, str, str]:
    """A fresh function with v1 and v2 published and alias `live` on v1 (v2 at `new_weight`)."""
    lam = stack.aws_client("lambda")
    iam = stack.aws_client("iam")
    name = f"gate-{uuid.uuid4().hex[:10]}"
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip("def handle(e, c):\n    return 1\n")},
    )
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(FunctionName=name, ZipFile=_zip("def handle(e, c):\n    return 2\n"))
    v2 = lam.publish_version(FunctionName=name)["Version"]
    routing = {"AdditionalVersionWeights": {v2: new_weight}} if new_weight else {}
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1, RoutingConfig=routing)
    return name, v1, v2


def _query(qid: str, metric: str, stat: str, dims: dict[str, str], period: int = 10) -> dict:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": period,
            "Stat": stat,
        },
    }


def test_traffic_splits_by_alias_weights_and_cloudwatch_reads_it_back_per_version(stack):
    # Given a function whose alias sends 25 % to v2, and v2 failing 10 % of its calls
    name, v1, v2 = make_function(stack, new_weight=0.25)
    lam, cw = stack.aws_client("lambda"), stack.aws_client("cloudwatch")
    assert alias_weights(lam, name, "live") == {v1: 0.75, v2: 0.25}
    traffic = Traffic(
        [name],
        "live",
        invocations_per_second=20,
        error_rate_by_version={v2: 0.1},
        duration_ms_by_version={v1: 100, v2: 250},
        cloudwatch=cw,
        lambda_client=lam,
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)

    # When six one-second ticks are published
    for second in range(6):
        traffic.tick(start + timedelta(seconds=second))

    # Then a 10-second window reads 90 calls of v1, 30 of v2 with 3 errors, each at its duration,
    # under FunctionName + Resource (function:alias) + ExecutedVersion
    resource = f"{name}:live"
    per = {v: {"FunctionName": name, "Resource": resource, "ExecutedVersion": v} for v in (v1, v2)}
    answer = cw.get_metric_data(
        MetricDataQueries=[
            _query("inv1", "Invocations", "Sum", per[v1]),
            _query("err1", "Errors", "Sum", per[v1]),
            _query("dur1", "Duration", "Average", per[v1]),
            _query("inv2", "Invocations", "Sum", per[v2]),
            _query("err2", "Errors", "Sum", per[v2]),
            _query("dur2", "Duration", "Average", per[v2]),
            _query("alias", "Invocations", "Sum", {"FunctionName": name, "Resource": resource}),
            _query("function", "Errors", "Sum", {"FunctionName": name}),
        ],
        StartTime=start,
        EndTime=start + timedelta(seconds=10),
    )
    got = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    assert got == {
        "inv1": [90.0],
        "err1": [0.0],
        "dur1": [100.0],
        "inv2": [30.0],
        "err2": [3.0],
        "dur2": [250.0],
        "alias": [120.0],
        "function": [3.0],
    }
    assert traffic.totals[(name, v2)] == {"invocations": 30, "errors": 3}


def test_one_tick_follows_the_alias_when_it_serves_one_version(stack):
    # Given an alias on v1 alone
    name, v1, v2 = make_function(stack)

    # When one tick of 7 calls per second is simulated
    published = simulate(
        [name],
        "live",
        invocations_per_second=7,
        cloudwatch=stack.aws_client("cloudwatch"),
        lambda_client=stack.aws_client("lambda"),
        now=datetime.now(UTC) - timedelta(seconds=5),
    )

    # Then all of them ran v1
    assert published == {name: {v1: {"invocations": 7, "errors": 0}}}


def test_traffic_thread_ticks_until_stopped_and_follows_a_weight_change(stack):
    # Given traffic running on an alias that serves v1 only
    name, v1, v2 = make_function(stack)
    lam = stack.aws_client("lambda")
    traffic = Traffic(
        [name],
        "live",
        invocations_per_second=10,
        cloudwatch=stack.aws_client("cloudwatch"),
        lambda_client=lam,
    )
    with TrafficThread(traffic, interval=0.2) as thread:
        # When the alias shifts half the traffic to v2 while it runs
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while thread.ticks < 3 and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        lam.update_alias(
            FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}}
        )
        seen = thread.ticks
        while thread.ticks < seen + 3 and datetime.now(UTC) < deadline:
            time.sleep(0.05)

    # Then it stopped, and v2 received calls only after the shift
    assert not thread.is_alive() and thread.error is None
    assert traffic.totals[(name, v1)]["invocations"] > 0
    assert traffic.totals[(name, v2)]["invocations"] > 0


def test_error_rates_are_fractions():
    with pytest.raises(ValueError, match="fractions between 0 and 1"):
        Traffic(
            ["f"],
            "live",
            invocations_per_second=1,
            error_rate_by_version={"2": 20},
            cloudwatch=None,
            lambda_client=None,
        )


def test_the_command_runs_traffic_against_the_local_stack(stack, capsys):
    # Given a function with 50 % on v2 (AWS_ENDPOINT_URL points at the stack, as `make run` exports)
    name, v1, v2 = make_function(stack, new_weight=0.5)

    # When the command runs for two seconds with v2 failing every call
    from postlaunch.lambda_traffic import main

    main([name, "--rate", "10", "--errors", f"{v2}=1.0", "--seconds", "2"])

    # Then it reports the calls per version, and v2's are all errors
    out = capsys.readouterr().out
    assert f"{name} v{v1}: " in out and " 0 errors" in out.split(f"v{v2}")[0]
    last = out.strip().splitlines()[-1]
    v2_part = last.split(f"{name} v{v2}: ")[1]
    calls, errors = int(v2_part.split(" calls ")[0]), int(v2_part.split(" calls ")[1].split(" errors")[0])
    assert calls > 0 and errors == calls
