"""Validate template.yaml the way a deploy would see it, offline (no AWS account needed).

cfn-lint alone checks a SAM template against SAM's schemas, which let broken values through inside
AWS::Serverless::Function (a Runtime of python3.99, a FunctionUrlConfig AuthType of NOPE). So, as
`sam validate --lint` does: run SAM's own transform (the aws-sam-translator package) and lint the
CloudFormation it produces with cfn-lint. On top, the project's own rules: secrets are NoEcho
parameters without defaults, environment variable names are the ones functions/platform/settings.py
reads, handlers are functions.<name>.app.handler, CORS is configured on draft_session only.

    python -m devtools.template_check [template.yaml]     # exit 1 and one line per problem
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"  # any region: the checks do not depend on it, but the transform needs one
SECRETS = ("DATABASE_URL", "REDIS_URL", "QDRANT_API_KEY", "SUPABASE_JWT_SECRET", "ADMIN_TOKEN")
CORS_FUNCTION = "DraftSessionFunction"
# Environment variables read by something other than Settings (Powertools' own switches).
EXTERNAL_ENV = {"POWERTOOLS_LOG_LEVEL", "POWERTOOLS_SERVICE_NAME"}
# cfn-lint rules left out, each for a reason: none today. (Add "rule id: why" here, never silently.)
IGNORED_RULES: dict[str, str] = {}


def load(path: Path) -> dict:
    """The template as a plain dict, short-form intrinsics (!Ref, !Sub...) in their long form."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches:
        raise ValueError("; ".join(str(m) for m in matches))
    return _plain(template)


def _plain(value: Any) -> Any:
    # cfn-lint's node types carry line marks; the translator wants ordinary dicts, lists and strings.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def translate(template: dict, base_dir: Path) -> dict:
    """SAM's transform, as `sam validate` runs it (local CodeUri replaced by an S3 URI first)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    functions = [r.get("Properties", {}) for r in sam.get("Resources", {}).values()
                 if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function"]
    for props in [sam.get("Globals", {}).get("Function", {}), *functions]:
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            if not (base_dir / uri).exists():
                raise TemplateProblem(f"CodeUri {uri!r} does not exist beside the template")
            props["CodeUri"] = f"s3://template-check/{uri.strip('/') or 'root'}"
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[],
                            boto_session=boto3.session.Session(region_name=REGION))
    try:
        return translator.translate(sam_template=sam, parameter_values={}, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as exc:
        causes = [getattr(c, "message", None) or str(c) for c in exc.causes] or [str(exc)]
        raise TemplateProblem(*[f"SAM transform: {c}" for c in causes]) from None


class TemplateProblem(Exception):
    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def lint(cloudformation: dict, label: str) -> list[str]:
    """cfn-lint on a template; every error and warning is a problem (informational notes are not)."""
    from cfnlint.api import ManualArgs
    from cfnlint.api import lint as cfn_lint

    matches = cfn_lint(json.dumps(cloudformation, indent=1), config=ManualArgs(regions=[REGION]))
    problems = []
    for m in matches:
        rule = m.rule.id
        if rule in IGNORED_RULES or rule.startswith("I"):
            continue
        path = "/".join(str(p) for p in (getattr(m, "path", None) or []))
        problems.append(f"cfn-lint ({label}) {rule} {path}: {m.message}")
    return problems


def settings_env_names() -> set[str]:
    sys.path.insert(0, str(ROOT))
    from functions.platform.settings import Settings

    return {name.upper() for name in Settings.model_fields}


def project_rules(template: dict) -> list[str]:
    problems: list[str] = []
    params = template.get("Parameters", {})
    resources = template.get("Resources", {})
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})

    known = settings_env_names() | EXTERNAL_ENV
    envs = [("Globals", global_env)] + [
        (name, f.get("Properties", {}).get("Environment", {}).get("Variables", {})) for name, f in functions.items()]
    for owner, variables in envs:
        for var, value in variables.items():
            if var not in known:
                problems.append(f"{owner}: environment variable {var} is not read by functions/platform/settings.py")
            if var in SECRETS:
                ref = value.get("Ref") if isinstance(value, dict) else None
                param = params.get(ref or "", {})
                if not ref or ref not in params:
                    problems.append(f"{owner}: secret {var} must come from a parameter (or SSM/Secrets Manager)")
                elif str(param.get("NoEcho")).lower() != "true" or "Default" in param:
                    problems.append(f"parameter {ref} ({var}) must be NoEcho: true with no Default")

    for name, fn in functions.items():
        props = fn.get("Properties", {})
        handler = props.get("Handler", "")
        parts = handler.split(".")
        if len(parts) != 4 or parts[0] != "functions" or parts[2:] != ["app", "handler"]:
            problems.append(f"{name}: Handler {handler!r} is not functions.<name>.app.handler")
        elif not (ROOT / "functions" / parts[1] / "app.py").exists():
            problems.append(f"{name}: Handler {handler!r} names a module that does not exist")
        url = props.get("FunctionUrlConfig")
        if url is None:
            problems.append(f"{name}: has no Function URL (FunctionUrlConfig)")
        elif "Cors" in url and name != CORS_FUNCTION:
            problems.append(f"{name}: CORS belongs to {CORS_FUNCTION} only (browsers call nothing else)")
    if CORS_FUNCTION in functions and "Cors" not in functions[CORS_FUNCTION]["Properties"].get("FunctionUrlConfig", {}):
        problems.append(f"{CORS_FUNCTION}: its Function URL has no Cors block")
    if "Cors" in template.get("Globals", {}).get("Function", {}).get("FunctionUrlConfig", {}):
        problems.append("Globals: CORS belongs to draft_session's FunctionUrlConfig only")
    return problems


def check(path: Path = TEMPLATE) -> list[str]:
    """Every problem found; an empty list means the template is deployable as far as can be told offline."""
    try:
        template = load(path)
    except Exception as exc:  # a template that does not parse is one problem, not a crash
        return [f"cannot read {path.name}: {exc}"]
    problems = project_rules(template)
    problems += lint(template, "SAM template")
    try:
        translated = translate(template, path.parent)
    except TemplateProblem as exc:
        return problems + exc.problems
    return problems + lint(translated, "after SAM transform")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else TEMPLATE
    problems = check(path)
    for problem in problems:
        print(problem)
    print(f"{path.name}: {'OK' if not problems else f'{len(problems)} problem(s)'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
