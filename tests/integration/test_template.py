"""template.yaml: lint, SAM validation, the trigger design, least privilege, and the build."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.stack import ROOT, TEMPLATE, load_template, parameter_defaults, sam_cli_environment, trigger_rules

sys.path.insert(0, str(ROOT / "function"))
from emotion.settings import IMAGE_EXTENSIONS, Settings  # noqa: E402

TEMPLATE_DOC = load_template()
RESOURCES = TEMPLATE_DOC["Resources"]
FUNCTION = RESOURCES["EmotionFunction"]["Properties"]
PREFIX = parameter_defaults(TEMPLATE_DOC)["UploadsPrefix"]


def sam_cli() -> str:
    """The SAM CLI from its own environment (make installs it in .venv-sam)."""
    for candidate in (os.environ.get("SAM_CLI"), str(ROOT / ".venv-sam" / "bin" / "sam"), shutil.which("sam")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("SAM CLI not found: run `make test` (it installs aws-sam-cli into .venv-sam)")


def run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=sam_cli_environment())


def test_cfn_lint_passes():
    proc = run([str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cfn_lint_silences_no_rule():
    # A runtime-deprecation rule (E2531, E2533, W2531) silenced here once hid an end-of-life runtime.
    config = TEMPLATE_DOC.get("Metadata", {}).get("cfn-lint", {}).get("config", {})
    assert not config.get("ignore_checks"), config


@pytest.mark.parametrize("flags", [[], ["--lint"]], ids=["validate", "validate-lint"])
def test_sam_validate_passes(flags):
    # Plain validate runs the SAM transform (catching e.g. circular dependencies); --lint runs cfn-lint.
    proc = run([sam_cli(), "validate", "--region", "us-east-1", *flags])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_trigger_lets_every_image_extension_in_whatever_the_case():
    suffixes = {rule.suffix for rule in trigger_rules(TEMPLATE_DOC)}
    expected = {case(ext) for ext in IMAGE_EXTENSIONS for case in (str.lower, str.upper, str.title)}
    assert suffixes == expected
    assert all(rule.prefix == PREFIX and rule.events == "s3:ObjectCreated:*" for rule in trigger_rules(TEMPLATE_DOC))


def _triggers(key: str) -> bool:
    return any(key.startswith(r.prefix) and key.endswith(r.suffix) for r in trigger_rules(TEMPLATE_DOC))


@pytest.mark.parametrize("name", ["IMG_001.JPG", "photo.jpeg", "scan.Png", "anim.gif", "x.webp", "y.HEIC", "z.tiff"])
def test_phone_and_desktop_names_trigger(name):
    assert _triggers(PREFIX + name)
    assert Settings().is_image_key(PREFIX + name)


def test_no_result_can_trigger_the_function():
    """Every possible result key is <image key>.json; no rule's suffix can match it."""
    for rule in trigger_rules(TEMPLATE_DOC):
        image_key = f"{PREFIX}a/b{rule.suffix}"
        assert _triggers(image_key)
        assert not _triggers(image_key + Settings().result_suffix)
        assert not rule.suffix.lower().endswith(".json")


def _function_statements():
    statements = []
    for policy in FUNCTION["Policies"]:
        statements.extend(policy.get("Statement", []))
    return statements


def test_function_policy_is_least_privilege():
    allowed = {}
    for st in _function_statements():
        assert st["Effect"] == "Allow"
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any("*" in a for a in actions), actions
        for action in actions:
            allowed[action] = st["Resource"]
    assert set(allowed) == {"s3:GetObject", "s3:PutObject", "sqs:SendMessage"}
    read = allowed["s3:GetObject"]["Fn::Sub"]
    write = allowed["s3:PutObject"]["Fn::Sub"]
    bucket_arn = "arn:${AWS::Partition}:s3:::" + RESOURCES["UploadBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert read == bucket_arn + "/${UploadsPrefix}*"
    assert write == bucket_arn + "/${UploadsPrefix}*.json"  # results only
    assert allowed["sqs:SendMessage"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}


def test_bucket_is_private_encrypted_and_tls_only():
    bucket = RESOURCES["UploadBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    statement = RESOURCES["UploadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_failures_retention_and_concurrency_are_configured():
    destination = FUNCTION["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert destination["Type"] == "SQS"
    assert RESOURCES["EmotionFunctionLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert FUNCTION["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert TEMPLATE_DOC["Globals"]["Function"]["Runtime"] == "python3.13"
    assert parameter_defaults(TEMPLATE_DOC)["Architecture"] == "x86_64"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`make sam-build` for both architectures: `sam build` (the glibc guard: a too-new wheel
    fails here), then the package diet of infra/prune_package.py."""
    from infra.prune_package import prune
    out = {}
    for arch in ("x86_64", "arm64"):
        build_dir = tmp_path_factory.mktemp(f"sam-{arch}")
        proc = run([sam_cli(), "build", "--build-dir", str(build_dir), "--parameter-overrides",
                    f"Architecture={arch}"], timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out[arch] = build_dir / "EmotionFunction"
        out[f"{arch}-prune"] = prune(out[arch])
    return out


def test_sam_build_succeeds_for_both_architectures(built):
    for arch, machine in (("x86_64", "x86-64"), ("arm64", "aarch64")):
        sos = list((built[arch] / "ai_edge_litert").glob("*.so"))
        assert sos, arch
        header = sos[0].read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        e_machine = int.from_bytes(header[18:20], "little")
        assert e_machine == {"x86-64": 62, "aarch64": 183}[machine]
        assert (built[arch] / "model" / "emotion4.tflite").exists()
        assert not (built[arch] / "tensorflow").exists()  # never full TensorFlow at run time


def test_pruned_package_keeps_what_the_function_loads(built):
    for arch in ("x86_64", "arm64"):
        report, package = built[f"{arch}-prune"], built[arch]
        assert report["after_mb"] < report["before_mb"]
        assert report["python_bindings_removed"]
        assert not (package / "botocore").exists()  # the runtime's copy is used
        for needed in ("app.py", "numpy", "PIL", "pi_heif", "ai_edge_litert/libLiteRt.so", "aws_xray_sdk",
                       "aws_lambda_powertools", "model/emotion4.tflite"):
            assert (package / needed).exists(), (arch, needed)
    assert built["x86_64-prune"]["after_mb"] <= 65
    if shutil.which("llvm-strip"):  # the host's GNU strip reads x86_64 only; LLVM's strips arm64
        assert any(name.startswith("numpy/") for name in built["arm64-prune"]["stripped"])
        assert built["arm64-prune"]["after_mb"] <= 65


def test_arm64_package_exports_every_litert_symbol_the_function_calls(built):
    """The arm64 package runs LiteRT's C path too (infra/check_arm64.sh runs it under emulation):
    its libLiteRt.so exports every function runtime.py looks up."""
    from emotion.runtime import _SIGNATURES
    library = built["arm64"] / "ai_edge_litert" / "libLiteRt.so"
    assert shutil.which("readelf"), "binutils' readelf is needed to read the arm64 library"
    symbols = run(["readelf", "--dyn-syms", "--wide", str(library)]).stdout
    exported = {line.split()[-1].split("@")[0] for line in symbols.splitlines() if " FUNC " in line and " UND " not in line}
    assert "AArch64" in run(["readelf", "-h", str(library)]).stdout
    assert set(_SIGNATURES) <= exported, set(_SIGNATURES) - exported


def test_built_x86_package_classifies_every_format(built, tmp_path):
    """The exact pruned package, in a fresh interpreter: a face crop in every format the trigger
    accepts, a photo through face detection, and the handler on S3 events (tests/integration/
    pruned_package_probe.py)."""
    from composites import astronaut
    from phones import FORMATS, encode_phone, phone_photo
    sample = next((ROOT / "infra" / "samples").glob("happy-*.jpg"))
    astronaut().save(tmp_path / "astronaut.jpg")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for fmt in ("HEIC", "AVIF", "MPO"):
        (uploads / f"IMG_0001{FORMATS[fmt].upper()}").write_bytes(encode_phone(phone_photo(3), fmt))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("pruned_package_probe.py")),
                           str(built["x86_64"]), str(sample), str(tmp_path / "astronaut.jpg"), str(uploads)],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["numpy_file"].startswith(str(built["x86_64"]))
    assert f"numpy=={out['numpy']}" in (ROOT / "function" / "requirements.txt").read_text().split()
    assert out["runtimes"] == ["litert-c", "litert-c"] and not out["python_bindings_loaded"]
    for fmt, emotions in out["formats"].items():
        assert len(emotions) == 1 and emotions[0] in ("happy", "neutral", "sad", "surprise"), fmt
    assert len(out["photo"]) == 1
    assert out["uploads"] == {"IMG_0001.AVIF": ["happy"], "IMG_0001.HEIC": ["happy"], "IMG_0001.MPO": ["happy"]}
    assert out["decoders_from_package"]
    assert out["handler"] == {"uploads/face.jpg": "ok", "uploads/notes.jpg": "error"}


def test_model_parameter_offers_exactly_the_shipped_models():
    from emotion.classifier import shipped_emotion_models
    shipped = shipped_emotion_models(ROOT / "function" / "model")
    allowed = TEMPLATE_DOC["Parameters"]["ModelName"]["AllowedValues"]
    assert sorted(allowed) == shipped
    assert parameter_defaults(TEMPLATE_DOC)["ModelName"] == "emotion4"


def test_sam_builder_asks_for_every_manylinux_tag_up_to_the_runtimes_glibc():
    """infra/sam_manylinux.py, as installed into the SAM CLI's environment: manylinux_2_27 wheels
    (ai-edge-litert's for aarch64) can be fetched, nothing newer than glibc 2.34 is accepted."""
    code = ("from aws_lambda_builders.workflows.python_pip.packager import DependencyBuilder as D;"
            "import json; print(json.dumps({a: D(None, 'python3.13', 'python3.13', pip_runner=object(),"
            " architecture=a).compatible_platforms for a in ('arm64', 'x86_64')}))")
    proc = run([str(Path(sam_cli()).parent / "python"), "-c", code])
    assert proc.returncode == 0, proc.stderr
    platforms = json.loads(proc.stdout)
    for arch, machine in (("arm64", "aarch64"), ("x86_64", "x86_64")):
        assert f"manylinux_2_27_{machine}" in platforms[arch]
        assert platforms[arch][-1] == f"manylinux_2_34_{machine}"


def test_batch_operations_role_is_least_privilege():
    role = RESOURCES["BatchOperationsRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]
    allowed = {}
    for policy in role["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            assert st["Effect"] == "Allow"
            for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
                assert "*" not in action
                allowed[action] = st["Resource"]
    bucket_arn = "arn:${AWS::Partition}:s3:::" + RESOURCES["UploadBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert allowed == {
        "lambda:InvokeFunction": {"Fn::GetAtt": ["EmotionFunction", "Arn"]},
        "s3:GetObject": {"Fn::Sub": bucket_arn + "/${BackfillPrefix}manifests/*"},
        "s3:GetObjectVersion": {"Fn::Sub": bucket_arn + "/${BackfillPrefix}manifests/*"},
        "s3:PutObject": {"Fn::Sub": bucket_arn + "/${BackfillPrefix}reports/*"},
        "s3:GetBucketLocation": {"Fn::Sub": bucket_arn},
    }
    outputs = TEMPLATE_DOC["Outputs"]
    assert outputs["BatchOperationsRoleArn"]["Value"] == {"Fn::GetAtt": ["BatchOperationsRole", "Arn"]}
    assert outputs["BackfillPrefix"]["Value"] == {"Ref": "BackfillPrefix"}


def test_backfill_files_can_never_trigger_the_function():
    """Manifests (.csv) and reports (.csv, .json) live under BackfillPrefix, outside the uploads prefix."""
    backfill = parameter_defaults(TEMPLATE_DOC)["BackfillPrefix"]
    assert not backfill.startswith(PREFIX) and not PREFIX.startswith(backfill)
    for key in (f"{backfill}manifests/job.csv", f"{backfill}reports/job-1/results/a.csv",
                f"{backfill}reports/job-1/manifest.json", f"{backfill}manifests/photo.jpg"):
        assert not _triggers(key)
    rules = {r["Id"]: r for r in RESOURCES["UploadBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireBackfillFiles"]["Prefix"] == {"Ref": "BackfillPrefix"}
