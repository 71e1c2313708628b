"""python -m infra.backfill: the manifest from the listing (moto), the job's requests against the
S3 Control API model (botocore's Stubber: moto has no Batch Operations jobs), the completion report,
and --local through the handler."""
import csv
import gzip
import io
import json
import re
import subprocess
import sys

import boto3
import pytest
from botocore.stub import ANY, Stubber
from hypothesis import given, settings as hypothesis_settings, strategies as st

from images import encode, face
from infra import backfill
from infra.stack import ROOT

sys.path.insert(0, str(ROOT / "function"))
from emotion.settings import Settings  # noqa: E402

BUCKET = "backfill-tests"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:emotion-svc-emotion"
ROLE_ARN = "arn:aws:iam::123456789012:role/emotion-svc-BatchOperationsRole-X"
TARGET = backfill.Target(BUCKET, "uploads/", "backfill/", FUNCTION_ARN, ROLE_ARN)


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def naive_pairs(keys, settings):
    """What pair_results must find, holding every key in memory."""
    present = set(keys)
    out = {}
    for key in keys:
        if settings.is_image_key(key) and not settings.is_result(key):
            long = settings.result_key(key) != key + ".json"
            out[key] = None if long else key + ".json" in present
    return out


def test_results_are_paired_with_their_images_in_listing_order():
    settings = Settings()
    keys = ["uploads/a.jpg", "uploads/a.jpg-2.jpg", "uploads/a.jpg-2.jpg.json", "uploads/a.jpg.jpg",
            "uploads/a.jpg.json", "uploads/b.png", "uploads/c.PNG", "uploads/c.PNG.json", "uploads/notes.txt",
            "uploads/z/" + "x" * 1030 + ".jpg"]
    found = {i.key: i.has_result for i in backfill.pair_results(((k, 1) for k in sorted(keys)), settings)}
    assert found == {"uploads/a.jpg": True, "uploads/a.jpg-2.jpg": True, "uploads/a.jpg.jpg": False,
                     "uploads/b.png": False, "uploads/c.PNG": True, "uploads/z/" + "x" * 1030 + ".jpg": None}
    assert found == naive_pairs(keys, settings)


NAME = st.text(alphabet="ab.-/_é+ ", min_size=1, max_size=6)
EXT = st.sampled_from([".jpg", ".png", ".JPG", ".json", ".txt", ".jpg.json", ""])


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAME, EXT).map(lambda t: "uploads/" + t[0] + t[1]), max_size=40, unique=True))
def test_pairing_agrees_with_a_set_whatever_the_names(keys):
    settings = Settings()
    found = {i.key: i.has_result for i in backfill.pair_results(((k, 1) for k in sorted(keys)), settings)}
    assert found == naive_pairs(keys, settings)


def fill(s3, with_results=("uploads/a b+c.jpg", "uploads/deep/d.png"),
         without=("uploads/e.jpg", "uploads/été.JPG")):
    for key in (*with_results, *without):
        s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    for key in with_results:
        s3.put_object(Bucket=BUCKET, Key=key + ".json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/f.jpg", Body=b"x")  # outside the uploads prefix


def manifest_keys(text: str) -> list[tuple[str, str]]:
    """The manifest's lines as Batch Operations hands them to the function (Powertools decodes)."""
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask
    rows = list(csv.reader(io.StringIO(text)))
    return [(bucket, S3BatchOperationTask({"s3Key": key}).s3_key) for bucket, key in rows]


@pytest.mark.parametrize("mode,expected", [
    ("only-missing", ["uploads/e.jpg", "uploads/été.JPG"]),
    ("outdated", ["uploads/a b+c.jpg", "uploads/deep/d.png", "uploads/e.jpg", "uploads/été.JPG"]),
    ("force", ["uploads/a b+c.jpg", "uploads/deep/d.png", "uploads/e.jpg", "uploads/été.JPG"]),
])
def test_manifest_from_the_listing(s3, mode, expected):
    fill(s3)
    out = io.StringIO()
    plan = backfill.plan_manifest(s3, TARGET, mode, out)
    assert sorted(manifest_keys(out.getvalue())) == [(BUCKET, k) for k in expected]
    assert (plan.listed, plan.images, plan.counts["with"], plan.counts["without"], plan.selected) == \
        (7, 4, 2, 2, len(expected))  # elsewhere/ is not listed
    if mode != "only-missing":  # URL-encoded as S3 encodes keys: a space is "+", "+" itself "%2B"
        assert f"{BUCKET},uploads/a+b%2Bc.jpg\n" in out.getvalue()


def put_inventory(s3, rows: list[list[str]]) -> str:
    data = io.StringIO()
    csv.writer(data).writerows(rows)
    s3.put_object(Bucket=BUCKET, Key="inventory/data/part-1.csv.gz", Body=gzip.compress(data.getvalue().encode()))
    manifest = {"sourceBucket": BUCKET, "destinationBucket": f"arn:aws:s3:::{BUCKET}", "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size",
                "files": [{"key": "inventory/data/part-1.csv.gz", "size": 1, "MD5checksum": "x"}]}
    s3.put_object(Bucket=BUCKET, Key="inventory/manifest.json", Body=json.dumps(manifest).encode())
    return f"s3://{BUCKET}/inventory/manifest.json"


def test_manifest_from_an_inventory_report(s3):
    uri = put_inventory(s3, [
        [BUCKET, "uploads/a+b.jpg", "v2", "true", "false", "10"],   # "a b.jpg", encoded
        [BUCKET, "uploads/a+b.jpg", "v1", "false", "false", "9"],   # an old version
        [BUCKET, "uploads/gone.png", "v3", "true", "true", ""],     # a delete marker
        [BUCKET, "uploads/a+b.jpg.json", "v4", "true", "false", "5"],
        [BUCKET, "uploads/%C3%A9t%C3%A9.PNG", "v5", "true", "false", "7"],
        [BUCKET, "other/x.jpg", "v6", "true", "false", "7"],
    ])
    out = io.StringIO()
    plan = backfill.plan_manifest(s3, TARGET, "outdated", out, inventory_uri=uri)
    assert manifest_keys(out.getvalue()) == [(BUCKET, "uploads/a b.jpg"), (BUCKET, "uploads/été.PNG")]
    assert plan.counts == {"unknown": 2} and plan.listed == 3  # current objects under the prefix


def test_only_missing_is_refused_with_an_inventory():
    with pytest.raises(SystemExit):
        backfill.parse_args(["--bucket", BUCKET, "--dry-run", "--only-missing", "--inventory", "s3://b/m.json"])


def put_report(s3, job_id: str, rows: list[list[str]]) -> None:
    """A completion report as Batch Operations writes it (docs: batch-ops-examples-reports)."""
    prefix = f"{TARGET.report_prefix}/job-{job_id}"
    data = io.StringIO()
    csv.writer(data, lineterminator="\n").writerows(rows)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/results/abc.csv", Body=data.getvalue().encode())
    manifest = {"Format": "Report_CSV_20180820", "ReportCreationDate": "2026-12-01T10:00:00.000Z",
                "Results": [{"TaskExecutionStatus": "succeeded", "Bucket": BUCKET, "MD5Checksum": "x",
                             "Key": f"{prefix}/results/abc.csv"}],
                "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode())


def job(status: str, total: int, succeeded: int, failed: int) -> dict:
    return {"Job": {"JobId": "job-7", "Status": status, "ProgressSummary": {
        "TotalNumberOfTasks": total, "NumberOfTasksSucceeded": succeeded, "NumberOfTasksFailed": failed}}}


@pytest.mark.parametrize("mode", ["outdated", "force"])
def test_the_job_is_created_followed_and_summarised(s3, mode, capsys):
    fill(s3)
    s3control = boto3.client("s3control", region_name="us-east-1")
    sent = {}
    s3control.meta.events.register("provide-client-params.s3-control.CreateJob",
                                   lambda params, **kw: sent.update(params))
    expected = backfill.job_request(TARGET, "KEY", "ETAG", mode == "force", "TOKEN")
    expected["Manifest"]["Location"] = {"ObjectArn": ANY, "ETag": ANY}
    expected["ClientRequestToken"] = ANY
    with Stubber(s3control) as stub:
        # Stubber checks each request against the S3 Control API model, then against these.
        stub.add_response("create_job", {"JobId": "job-7"}, expected)
        for response in (job("Preparing", 0, 0, 0), job("Active", 4, 1, 0), job("Complete", 4, 3, 1)):
            stub.add_response("describe_job", response, {"AccountId": "123456789012", "JobId": "job-7"})
        put_report(s3, "job-7", [
            [BUCKET, "uploads/a+b%2Bc.jpg", "", "succeeded", "", "200", "ok happy uploads/a b+c.jpg.json"],
            [BUCKET, "uploads/deep/d.png", "", "succeeded", "", "200", "current uploads/deep/d.png.json"],
            [BUCKET, "uploads/e.jpg", "", "succeeded", "", "200", "error uploads/e.jpg.json"],
            [BUCKET, "uploads/%C3%A9t%C3%A9.JPG", "", "failed", "PermanentFailure", "200", "AccessDenied: denied"],
        ])
        outcome = backfill.run_aws(s3, s3control, TARGET, mode, False, None, 0, 1024, 200, sleep=lambda s: None)
        stub.assert_no_pending_responses()
    # The manifest the job names is the one uploaded, under the backfill prefix, with its ETag.
    location = sent["Manifest"]["Location"]
    key = location["ObjectArn"].split(f"{BUCKET}/", 1)[1]
    assert re.fullmatch(rf"backfill/manifests/\d{{8}}T\d{{6}}Z-{mode}-[0-9a-f]{{8}}\.csv", key), key
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["ETag"].strip('"') == location["ETag"]
    assert len(manifest_keys(stored["Body"].read().decode())) == 4
    assert sent["Operation"]["LambdaInvoke"]["UserArguments"] == {"force": "true" if mode == "force" else "false"}
    assert sent["Report"]["Prefix"] == "backfill/reports" and sent["RoleArn"] == ROLE_ARN
    assert outcome["summary"]["outcomes"] == {"current": 1, "error": 1, "failed: PermanentFailure": 1, "ok": 1}
    assert outcome["summary"]["failed_examples"] == ["uploads/été.JPG: AccessDenied: denied"]
    err = capsys.readouterr().err
    assert "25.0% 1/4 tasks, 0 failed  Active" in err and "100.0% 4/4 tasks, 1 failed  Complete" in err


def test_dry_run_counts_and_estimates_and_sends_nothing(s3, capsys):
    fill(s3)
    s3control = boto3.client("s3control", region_name="us-east-1")
    with Stubber(s3control):  # no responses queued: any request would fail the test
        outcome = backfill.run_aws(s3, s3control, TARGET, "only-missing", True, None, 0, 1024, 200)
    assert outcome["plan"].selected == 2 and "job" not in outcome
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="backfill/").get("KeyCount")
    out = capsys.readouterr().out
    assert "4 images: 2 with a result, 2 without" in out and "2 tasks (only-missing)" in out


def test_the_stack_names_everything(s3, capsys):
    fill(s3)
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    outputs = {"UploadBucketName": BUCKET, "UploadsPrefix": "uploads/", "BackfillPrefix": "backfill/",
               "EmotionFunctionArn": FUNCTION_ARN, "BatchOperationsRoleArn": ROLE_ARN, "FailureQueueUrl": "q"}
    s3control = boto3.client("s3control", region_name="us-east-1")
    with Stubber(cloudformation) as cfn, Stubber(s3control):
        cfn.add_response("describe_stacks", {"Stacks": [{
            "StackName": "emotion-svc", "CreationTime": "2026-12-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]},
            {"StackName": "emotion-svc"})
        rc = backfill.main(["--stack", "emotion-svc", "--dry-run", "--prefix", "uploads/deep/"],
                           clients={"s3": s3, "s3control": s3control, "cloudformation": cloudformation})
    assert rc == 0
    assert "1 images: 1 with a result, 0 without" in capsys.readouterr().out


def test_a_failed_job_is_reported_and_fails_the_command(s3, capsys):
    fill(s3)
    s3control = boto3.client("s3control", region_name="us-east-1")
    with Stubber(s3control) as stub:
        stub.add_response("create_job", {"JobId": "job-7"})
        failed = job("Failed", 4, 0, 4)
        failed["Job"]["FailureReasons"] = [{"FailureCode": "AccessDenied", "FailureReason": "manifest unreadable"}]
        stub.add_response("describe_job", failed)
        rc = backfill.main(["--bucket", BUCKET, "--function-arn", FUNCTION_ARN, "--role-arn", ROLE_ARN,
                            "--poll-seconds", "0"], clients={"s3": s3, "s3control": s3control})
    assert rc == 1
    assert "manifest unreadable" in capsys.readouterr().out


def test_local_backfill_classifies_then_skips_then_forces(capsys):
    passes = backfill.run_local(sorted((ROOT / "infra" / "samples").glob("*-PublicTest_*.jpg"))[:3]
                                + [ROOT / "infra" / "samples" / "not-a-photo.jpg"],
                                ["only-missing", "outdated", "only-missing", "force"])
    outcomes = [p["summary"]["outcomes"] if p["summary"] else None for p in passes]
    assert outcomes == [{"error": 1, "ok": 3}, {"current": 4}, None, {"error": 1, "ok": 3}]
    assert [p["plan"].selected for p in passes] == [4, 4, 0, 4]
    assert all(p["events"] == 0 for p in passes)  # results and backfill files triggered nothing


def test_local_cli_runs_with_no_account(capsys):
    assert backfill.main(["--local", "--images", str(next((ROOT / "infra" / "samples").glob("happy-*.jpg")))]) == 0
    out = capsys.readouterr().out
    assert "1 tasks (outdated)" in out and ": 1 tasks: ok 1" in out


def test_cost_of_a_million_images():
    cost = backfill.estimate_cost(1_000_000, 2_000_000, 1024, 200)
    assert cost["batch_operations"] == round(0.25 + 1.00, 2)
    assert cost["lambda"] == round(1e6 * (0.2 * 0.0000166667 + 0.20 / 1e6), 2)
    assert cost["s3_requests"] == round(1e6 * (2 * 0.0004 + 0.005) / 1000 + 2000 * 0.005 / 1000, 2)
    assert cost["total"] == pytest.approx(cost["batch_operations"] + cost["lambda"] + cost["s3_requests"], abs=0.011)
    assert backfill.estimate_cost(0, 10, 1024, 200)["total"] == 0


def test_every_flag_explains_itself():
    actions = [a for a in backfill.build_parser()._actions if a.dest != "help"]
    assert {a.dest for a in actions} >= {"stack", "bucket", "local", "prefix", "mode", "dry_run", "inventory"}
    assert all(a.help and len(a.help) > 20 for a in actions), [a.dest for a in actions if not a.help]
    out = subprocess.run([sys.executable, "-m", "infra.backfill", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    for flag in ("--stack", "--bucket", "--local", "--only-missing", "--outdated", "--force", "--dry-run"):
        assert flag in out
