"""template.yaml: validated after SAM's own transform, and every handler it names imports from its package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import template_check
from devtools.events import function_url_event

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MAKEFILE = ROOT / "deploy" / "Makefile"


@pytest.fixture(scope="module")
def sam() -> dict:
    return template_check.load(TEMPLATE)


@pytest.fixture(scope="module")
def cfn(sam) -> dict:
    return template_check.translate(sam, ROOT)


def _functions(sam: dict) -> dict[str, dict]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert old in text, f"the template no longer contains {old!r}; update this test"
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")  # CodeUri must exist beside the copy
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# --- the check itself ---

def test_the_template_passes_the_check():
    assert template_check.check(TEMPLATE) == []


@pytest.mark.parametrize("old,new,expected", [
    ("Runtime: python3.12", "Runtime: python3.99", "python3.99"),
    ("AuthType: NONE ", "AuthType: NOPE ", "AuthType"),
], ids=["runtime-python3.99", "authtype-NOPE"])
def test_the_check_rejects_a_broken_copy(tmp_path, old, new, expected):
    # cfn-lint on the SAM template alone accepts both (it checks SAM's schemas, not the result).
    problems = template_check.check(_broken_copy(tmp_path, old, new))
    assert problems, "the broken template passed the check"
    assert any(expected in p for p in problems), problems


def test_a_secret_with_a_default_is_rejected(tmp_path):
    path = _broken_copy(tmp_path, "  AdminToken:\n    Type: String\n",
                        "  AdminToken:\n    Type: String\n    Default: change-me-change-me-change-me-change-me\n")
    assert any("AdminToken" in p and "NoEcho" in p for p in template_check.check(path))


def test_an_environment_variable_settings_does_not_read_is_rejected(tmp_path):
    path = _broken_copy(tmp_path, "        JWT_AUDIENCE: !Ref JwtAudience\n",
                        "        JWT_AUDIENCE: !Ref JwtAudience\n        JWT_AUDIENCES: !Ref JwtAudience\n")
    assert any("JWT_AUDIENCES" in p for p in template_check.check(path))


def test_a_codeuri_that_does_not_exist_is_rejected(tmp_path):
    path = _broken_copy(tmp_path, "CodeUri: deploy/", "CodeUri: nowhere/")
    assert any("nowhere" in p for p in template_check.check(path))


# --- what the template must contain ---

def test_every_function_in_the_repository_is_deployed(sam):
    handlers = {f["Properties"]["Handler"] for f in _functions(sam).values()}
    present = {f"functions.{p.parent.name}.app.handler" for p in (ROOT / "functions").glob("*/app.py")}
    assert handlers == present


def test_functions_run_python_3_12_on_arm64_each_behind_its_own_url(cfn):
    lambdas = {k: v["Properties"] for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    aliases = {k: v["Properties"]["FunctionName"]["Ref"] for k, v in cfn["Resources"].items()
               if v["Type"] == "AWS::Lambda::Alias"}
    # Each URL invokes its function's `live` alias: the version SnapStart snapshots, when it is on.
    urls = {aliases[v["Properties"]["TargetFunctionArn"]["Ref"]]: v["Properties"]
            for v in cfn["Resources"].values() if v["Type"] == "AWS::Lambda::Url"}
    assert lambdas
    for name, props in lambdas.items():
        assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"], name
        assert urls[name]["AuthType"] == "NONE", name
        assert ("Cors" in urls[name]) == (name == "DraftSessionFunction"), name


def test_snapstart_is_a_parameter_applied_to_every_published_version(cfn, sam):
    assert sam["Parameters"]["SnapStart"]["Default"] == "false"
    assert sam["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}
    lambdas = [k for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]
    for name in lambdas:
        assert cfn["Resources"][name]["Properties"]["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}, name
        assert cfn["Resources"][f"{name}Aliaslive"]["Type"] == "AWS::Lambda::Alias", name


def test_every_function_has_log_retention_an_errors_alarm_and_its_url_in_the_outputs(cfn, sam):
    resources = cfn["Resources"]
    outputs = json.dumps(sam["Outputs"])
    alarmed = {d["Value"]["Ref"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
               and r["Properties"].get("MetricName") == "Errors" for d in r["Properties"]["Dimensions"]}
    for name, fn in ((k, v) for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"):
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name
        assert name in alarmed, f"{name} has no Errors alarm"
        assert f"{name}Url" in outputs, f"{name}'s URL is not in the Outputs"


def test_the_cleanup_runs_hourly_alone_with_retries_and_a_watched_dead_letter_queue(cfn):
    resources = cfn["Resources"]
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert len(schedules) == 1
    schedule = schedules[0]
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    target = schedule["Target"]
    assert target["Arn"] == {"Ref": "CleanupDraftsFunctionAliaslive"}  # the published version (SnapStart's)
    assert json.loads(target["Input"]) == {"source": "aws.scheduler", "action": "cleanup"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert resources[dlq]["Type"] == "AWS::SQS::Queue"
    assert resources["CleanupDraftsFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1
    invoke = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq, "Arn"]}
    watched = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
               and r["Properties"].get("Namespace") == "AWS/SQS"]
    assert [d["Value"] for a in watched for d in a["Dimensions"]] == [{"Fn::GetAtt": [dlq, "QueueName"]}]


def test_every_secret_is_a_noecho_parameter_without_default(sam):
    params = sam["Parameters"]
    secrets = {"DatabaseUrl", "RedisUrl", "QdrantApiKey", "SupabaseJwtSecret", "AdminToken"}
    for name in secrets:
        assert params[name]["NoEcho"] in (True, "true") and "Default" not in params[name], name


# --- every handler imports from what `sam build` packages ---

PROBE = r"""
import importlib, importlib.abc, json, sys
package, handler_path, blocked = sys.argv[1], sys.argv[2], set(json.loads(sys.argv[3]))

class NotPackaged(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not packaged with this function", name=name)

sys.meta_path.insert(0, NotPackaged())
sys.path.insert(0, package)
module_name, attr = handler_path.rsplit(".", 1)
module = importlib.import_module(module_name)
result = getattr(module, attr)(json.loads(sys.stdin.read()), None)
print(json.dumps({"file": module.__file__, "status": result["statusCode"], "body": result["body"]}))
"""

# Distribution name -> the top-level modules it installs (for the requirements a package leaves out).
MODULES = {"qdrant-client": ["qdrant_client"], "boto3": ["boto3", "botocore"]}


def _package(logical_id: str, into: Path) -> Path:
    out = into / logical_id
    subprocess.run(["make", "-s", "-f", str(MAKEFILE), f"build-{logical_id}", f"ARTIFACTS_DIR={out}", "DEPS=0"],
                   check=True, capture_output=True, text=True)
    return out


def _excluded_modules(logical_id: str) -> list[str]:
    names = subprocess.run(["make", "-s", "-f", str(MAKEFILE), "print-excludes", f"FUNCTION={logical_id}"],
                           check=True, capture_output=True, text=True).stdout.split()
    return [m for n in names for m in MODULES.get(n, [n.replace("-", "_")])]


def test_every_handler_imports_from_its_package_alone(sam, tmp_path):
    """Only the package (plus the requirements it installs) is on sys.path: not the repository, and not
    the requirements the package leaves out. An unauthenticated request must come back as the contract's
    401, proving the handler runs, not just imports."""
    event = function_url_event("GET", "/probe", headers={"content-type": "application/json"})
    for logical_id, fn in _functions(sam).items():
        assert fn["Metadata"]["BuildMethod"] == "makefile", logical_id
        package = _package(logical_id, tmp_path)
        name = fn["Properties"]["Handler"].split(".")[1]
        assert sorted(p.name for p in (package / "functions").iterdir()) == sorted(["__init__.py", "wiring.py", "platform", "adapters", "drafts", "cleanup", "purge", name]), \
            f"{logical_id}: the package holds more than what runs"
        out = subprocess.run(
            [sys.executable, "-I", "-c", PROBE, str(package), fn["Properties"]["Handler"],
             json.dumps(_excluded_modules(logical_id))],
            input=json.dumps(event), capture_output=True, text=True, cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
        assert out.returncode == 0, f"{logical_id}: {out.stderr[-3000:]}"
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        assert probe["file"].startswith(str(package)), probe["file"]
        assert probe["status"] == 401 and json.loads(probe["body"])["error"]["code"] == "unauthorized", probe


# --- one place for CORS: the dev server reads the template's Function URL Cors block ---

def test_the_dev_servers_cors_is_the_templates(tmp_path):
    from devtools.cors import CorsPolicy

    path = _broken_copy(tmp_path, "MaxAge: 600", "MaxAge: 120")
    policy = CorsPolicy.from_template(("https://app.example.com",), path)
    assert policy.functions == ("draft_session",)
    assert policy.max_age == 120  # the copy's value, not a default of the dev server's own
    preflight = policy.preflight_headers("draft_session", "https://app.example.com")
    assert preflight["Access-Control-Allow-Methods"] == "GET, POST, PATCH, DELETE"
    assert preflight["Access-Control-Allow-Headers"] == "authorization, content-type, idempotency-key"
    assert preflight["Access-Control-Max-Age"] == "120"
    assert policy.headers_for("draft_session", "https://evil.example") == {}
