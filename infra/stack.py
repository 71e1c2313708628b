"""Read template.yaml: its parameters and the S3 trigger it declares.

The local pipeline and the tests configure the stand-in bucket from the same template that
`sam deploy` uses, so the trigger design is exercised, not copied.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
FUNCTION_ID = "EmotionFunction"


def sam_cli_environment() -> dict[str, str]:
    """The environment to run the SAM CLI in: no telemetry, and this interpreter's folder first on
    PATH, since `sam build` looks for the runtime's python3.13 there (the Makefile does the same)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": path}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub...) into their long form."""


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(Path(path).read_text(), Loader=_CfnLoader)  # nosec B506: _CfnLoader is a SafeLoader


@dataclass(frozen=True)
class TriggerRule:
    name: str
    events: str
    prefix: str
    suffix: str


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params[value["Ref"]]
    return value


def trigger_rules(template: dict[str, Any], overrides: dict[str, Any] | None = None) -> list[TriggerRule]:
    """The function's S3 events, with parameters resolved (defaults unless overridden)."""
    params = {**parameter_defaults(template), **(overrides or {})}
    events = template["Resources"][FUNCTION_ID]["Properties"]["Events"]
    rules = []
    for name, event in events.items():
        if event["Type"] != "S3":
            continue
        props = event["Properties"]
        filters = {r["Name"]: _resolve(r["Value"], params) for r in props["Filter"]["S3Key"]["Rules"]}
        rules.append(TriggerRule(name, props["Events"], filters.get("prefix", ""), filters.get("suffix", "")))
    return rules


def function_environment(template: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The function's environment variables as the template sets them (parameters resolved)."""
    params = {**parameter_defaults(template), **(overrides or {})}
    variables = template["Resources"][FUNCTION_ID]["Properties"]["Environment"]["Variables"]
    return {k: str(_resolve(v, params)) for k, v in variables.items()}


def notification_configuration(rules: list[TriggerRule], queue_arn: str) -> dict[str, Any]:
    """The template's trigger as an S3 notification configuration delivering to an SQS queue."""
    return {
        "QueueConfigurations": [
            {
                "Id": rule.name,
                "QueueArn": queue_arn,
                "Events": [rule.events],
                "Filter": {"Key": {"FilterRules": [
                    {"Name": "prefix", "Value": rule.prefix},
                    {"Name": "suffix", "Value": rule.suffix},
                ]}},
            }
            for rule in rules
        ]
    }
