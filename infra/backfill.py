"""Backfill: classify what is already in the bucket, or re-classify it after a model upgrade.

S3 Batch Operations runs the function once per object of a CSV manifest, with retries, throttling,
progress and a completion report. This streams the bucket listing (or an S3 Inventory report) into
that manifest, creates the job, follows it until it ends and summarises its completion report.

    python -m infra.backfill --stack emotion-service --dry-run     # counts and cost estimate only
    python -m infra.backfill --stack emotion-service               # missing and outdated results
    python -m infra.backfill --stack emotion-service --force       # every image again
    python -m infra.backfill --local                               # no AWS account: the stand-in

The function decides per task: a result made from the same ETag by the same model name and version
is left as it is, unless the job forces (user argument force=true, invocation schema 2.0).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import math
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator
from urllib.parse import quote_plus, unquote_plus

from bench.run import PRICE_PER_GB_S, PRICE_PER_REQUEST

from .stack import ROOT, load_template, parameter_defaults

sys.path.insert(0, str(ROOT / "function"))
from emotion.settings import Settings  # noqa: E402

# Prices in USD, us-east-1, as known on PRICE_DATE; this machine cannot reach the pricing pages:
# recheck before quoting. Batch Operations: $0.25 per job and $1.00 per million object operations
# (Amazon S3 pricing page, "Management & insights"). S3 Standard requests: $0.0004 per 1,000 GET
# and $0.005 per 1,000 PUT or LIST (Amazon S3 pricing page, "Requests & data retrievals").
# Lambda: bench/run.py's figures (the AWS Lambda pricing page).
PRICE_DATE = "2026-12-01"
BATCH_PER_JOB = 0.25
BATCH_PER_TASK = 1.00 / 1_000_000
S3_PER_GET = 0.0004 / 1000
S3_PER_PUT_OR_LIST = 0.005 / 1000
LIST_PAGE = 1000  # keys per ListObjectsV2 request
# One task: the existing result's read, the image's read (a 304 when unchanged), the result's write.
GETS_PER_TASK, PUTS_PER_TASK = 2, 1
DEFAULT_MS_PER_IMAGE = 200  # the README's 512x512 photo: 198 ms in all, download from the stand-in included
TERMINAL = ("Complete", "Failed", "Cancelled")
MODES = ("only-missing", "outdated", "force")


@dataclass(frozen=True)
class Image:
    key: str
    size: int
    has_result: bool | None  # None: not known from the listing (Inventory reports, hashed long-key results)


@dataclass
class Plan:
    """What went into a manifest."""

    mode: str
    listed: int = 0  # every object seen, results included
    counts: Counter = field(default_factory=Counter)  # images by has_result: "with", "without", "unknown"
    selected: int = 0

    @property
    def images(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Target:
    """Where the backfill runs: the bucket and function, and the job's role and files."""

    bucket: str
    uploads_prefix: str
    backfill_prefix: str
    function_arn: str | None = None
    role_arn: str | None = None

    @property
    def account_id(self) -> str:
        return (self.function_arn or "").split(":")[4]

    @property
    def report_prefix(self) -> str:
        # Batch Operations writes under "<Prefix>/job-<id>/": no trailing slash here.
        return f"{self.backfill_prefix}reports"


def listing(s3, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under ``prefix``, one page of 1,000 at a time, in S3's key order."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"], obj["Size"]


def pair_results(objects: Iterable[tuple[str, int]], settings: Settings) -> Iterator[Image]:
    """Each image of a listing in S3's order (UTF-8 binary, as Python orders str), with whether
    ``<key>.json`` exists, holding only a few keys at a time.

    Every key sorting between K and K + ".json" starts with K, so the images still waiting for
    their result are prefixes of each other: a stack whose top has the smallest result key."""
    waiting: list[tuple[str, int]] = []
    suffix = settings.result_suffix
    for key, size in objects:
        while waiting and key > waiting[-1][0] + suffix:
            done, done_size = waiting.pop()
            yield Image(done, done_size, False)
        if waiting and key == waiting[-1][0] + suffix:
            done, done_size = waiting.pop()
            yield Image(done, done_size, True)
            continue
        if settings.is_result(key) or not settings.is_image_key(key):
            continue
        if settings.result_key(key) != key + suffix:  # too long: its result has a hashed name
            yield Image(key, size, None)
        else:
            waiting.append((key, size))
    while waiting:
        done, done_size = waiting.pop()
        yield Image(done, done_size, False)


def inventory(s3, manifest_uri: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of the current objects under ``prefix`` in an S3 Inventory report (CSV), read
    file by file from its ``manifest.json``."""
    bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if manifest.get("fileFormat", "CSV").upper() != "CSV":
        raise SystemExit(f"only CSV inventory reports can be read, not {manifest['fileFormat']}")
    fields = [f.strip() for f in manifest["fileSchema"].split(",")]
    destination = manifest["destinationBucket"].split(":::")[-1]
    for part in manifest["files"]:
        body = s3.get_object(Bucket=destination, Key=part["key"])["Body"]
        with gzip.GzipFile(fileobj=body) as unzipped:
            for row in csv.reader(io.TextIOWrapper(unzipped, encoding="utf-8", newline="")):
                record = dict(zip(fields, row))
                # Versioned inventories list old versions and delete markers too.
                if record.get("IsLatest", "true").lower() != "true" or record.get("IsDeleteMarker", "") == "true":
                    continue
                name = unquote_plus(record["Key"])  # inventory keys are URL-encoded
                if name.startswith(prefix):
                    yield name, int(record.get("Size") or 0)


def inventory_images(objects: Iterable[tuple[str, int]], settings: Settings) -> Iterator[Image]:
    """Images of an Inventory report: its order is not S3's, so whether a result exists is not known."""
    for key, size in objects:
        if settings.is_image_key(key) and not settings.is_result(key):
            yield Image(key, size, None)


def write_manifest(images: Iterable[Image], bucket: str, mode: str, out: IO[str], plan: Plan) -> Plan:
    """Batch Operations' CSV manifest (bucket, URL-encoded key), one line per selected image."""
    for image in images:
        plan.counts[{True: "with", False: "without", None: "unknown"}[image.has_result]] += 1
        if mode == "only-missing" and image.has_result:
            continue
        out.write(f"{bucket},{quote_plus(image.key, safe='/')}\n")
        plan.selected += 1
    return plan


def counted(objects: Iterable[tuple[str, int]], plan: Plan) -> Iterator[tuple[str, int]]:
    for item in objects:
        plan.listed += 1
        yield item


def plan_manifest(s3, target: Target, mode: str, out: IO[str], inventory_uri: str | None = None) -> Plan:
    """Stream the listing (or the Inventory report) through the selection into ``out``."""
    settings = Settings(uploads_prefix=target.uploads_prefix)
    plan = Plan(mode)
    if inventory_uri:
        images = inventory_images(counted(inventory(s3, inventory_uri, target.uploads_prefix), plan), settings)
    else:
        images = pair_results(counted(listing(s3, target.bucket, target.uploads_prefix), plan), settings)
    return write_manifest(images, target.bucket, mode, out, plan)


def upload_manifest(s3, target: Target, manifest: IO[bytes], mode: str) -> tuple[str, str]:
    """Store the manifest under ``<backfill prefix>manifests/``; its key and ETag (CreateJob needs both)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    key = f"{target.backfill_prefix}manifests/{stamp}-{mode}-{uuid.uuid4().hex[:8]}.csv"
    manifest.seek(0)
    etag = s3.put_object(Bucket=target.bucket, Key=key, Body=manifest, ContentType="text/csv")["ETag"]
    return key, etag.strip('"')


def job_request(target: Target, manifest_key: str, manifest_etag: str, force: bool, token: str) -> dict[str, Any]:
    """CreateJob's parameters: invoke the function on each manifest line, report every task."""
    partition = target.function_arn.split(":")[1]
    return {
        "AccountId": target.account_id,
        "ConfirmationRequired": False,
        "Operation": {"LambdaInvoke": {
            "FunctionArn": target.function_arn,
            "InvocationSchemaVersion": "2.0",  # 2.0 carries UserArguments; the handler reads "force"
            "UserArguments": {"force": "true" if force else "false"},
        }},
        "Report": {
            "Bucket": f"arn:{partition}:s3:::{target.bucket}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": target.report_prefix,
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": token,  # a retried CreateJob creates no second job
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:{partition}:s3:::{target.bucket}/{manifest_key}", "ETag": manifest_etag},
        },
        "Priority": 10,
        "RoleArn": target.role_arn,
        "Description": f"emotion backfill ({'force' if force else 'skip current'}) of {target.uploads_prefix}"[:256],
    }


def progress_line(job: dict[str, Any]) -> str:
    summary = job.get("ProgressSummary", {})
    total = summary.get("TotalNumberOfTasks") or 0
    done = summary.get("NumberOfTasksSucceeded", 0) + summary.get("NumberOfTasksFailed", 0)
    width = 30
    filled = round(width * done / total) if total else 0
    percent = f"{100 * done / total:5.1f}%" if total else "    -"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {percent} {done:,}/{total:,} tasks, "
            f"{summary.get('NumberOfTasksFailed', 0):,} failed  {job['Status']}")


def follow(s3control, account_id: str, job_id: str, poll_seconds: float, out: IO[str] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll DescribeJob until the job ends, drawing a progress bar; the final job description."""
    out = out or sys.stderr
    live = out.isatty()
    while True:
        job = s3control.describe_job(AccountId=account_id, JobId=job_id)["Job"]
        print(("\r" if live else "") + progress_line(job), end="" if live else "\n", file=out, flush=True)
        if job["Status"] in TERMINAL:
            if live:
                print(file=out)
            return job
        sleep(poll_seconds)


def report_summary(s3, bucket: str, report_prefix: str, job_id: str, examples: int = 10) -> dict[str, Any]:
    """Count a completion report's tasks by outcome (the result message's first word for the
    function's answers, the error code otherwise), streaming its CSV files."""
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{report_prefix}/job-{job_id}/manifest.json")["Body"].read())
    fields = [f.strip() for f in manifest["ReportSchema"].split(",")]
    outcomes: Counter = Counter()
    failed: list[str] = []
    for part in manifest["Results"]:
        body = s3.get_object(Bucket=part["Bucket"], Key=part["Key"])["Body"]
        for row in csv.reader(io.TextIOWrapper(body, encoding="utf-8", newline="")):
            record = dict(zip(fields, row))
            message = record.get("ResultMessage", "")
            if record["TaskStatus"] == "succeeded":
                outcomes[message.split(" ", 1)[0] or "succeeded"] += 1
            else:
                outcomes[f"failed: {record.get('ErrorCode') or message.split(':', 1)[0]}"] += 1
                if len(failed) < examples:
                    failed.append(f"{unquote_plus(record['Key'])}: {message}")
    return {"job_id": job_id, "tasks": sum(outcomes.values()), "outcomes": dict(sorted(outcomes.items())),
            "failed_examples": failed}


def estimate_cost(tasks: int, listed: int, memory_mb: int, ms_per_image: float, arch: str = "x86_64") -> dict[str, float]:
    """USD for a job of ``tasks``, each classified (an upper bound: a current result costs a few ms)."""
    billed_s = max(1, math.ceil(ms_per_image)) / 1000
    lambda_usd = tasks * (billed_s * memory_mb / 1024 * PRICE_PER_GB_S[arch] + PRICE_PER_REQUEST)
    batch_usd = (BATCH_PER_JOB + tasks * BATCH_PER_TASK) if tasks else 0.0  # no task, no job
    s3_usd = (tasks * (GETS_PER_TASK * S3_PER_GET + PUTS_PER_TASK * S3_PER_PUT_OR_LIST)
              + math.ceil(listed / LIST_PAGE) * S3_PER_PUT_OR_LIST)
    return {"batch_operations": round(batch_usd, 2), "lambda": round(lambda_usd, 2), "s3_requests": round(s3_usd, 2),
            "total": round(batch_usd + lambda_usd + s3_usd, 2)}


def print_plan(plan: Plan, cost: dict[str, float], memory_mb: int, ms_per_image: float, out: IO[str]) -> None:
    c = plan.counts
    print(f"{plan.listed:,} objects listed, {plan.images:,} images: {c['with']:,} with a result, "
          f"{c['without']:,} without" + (f", {c['unknown']:,} not known" if c["unknown"] else ""), file=out)
    print(f"{plan.selected:,} tasks ({plan.mode}); at most USD {cost['total']:.2f}: Batch Operations "
          f"{cost['batch_operations']:.2f}, Lambda {cost['lambda']:.2f} ({memory_mb} MB, {ms_per_image:g} ms per image), "
          f"S3 requests {cost['s3_requests']:.2f} (prices as known on {PRICE_DATE}: recheck)", file=out)


def print_summary(summary: dict[str, Any], out: IO[str]) -> None:
    outcomes = ", ".join(f"{name} {n:,}" for name, n in summary["outcomes"].items())
    print(f"job {summary['job_id']}: {summary['tasks']:,} tasks: {outcomes or 'none'}", file=out)
    for line in summary["failed_examples"]:
        print(f"  {line}", file=out)


def stack_target(cloudformation, stack: str) -> Target:
    description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    return Target(outputs["UploadBucketName"], outputs["UploadsPrefix"], outputs["BackfillPrefix"],
                  outputs["EmotionFunctionArn"], outputs["BatchOperationsRoleArn"])


def run_aws(s3, s3control, target: Target, mode: str, dry_run: bool, inventory_uri: str | None, poll_seconds: float,
            memory_mb: int, ms_per_image: float, out: IO[str] | None = None, sleep=time.sleep) -> dict[str, Any]:
    out = out or sys.stdout
    # The manifest goes to a temporary file, never to memory: a million keys is about 60 MB.
    with tempfile.TemporaryFile("w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
        plan = plan_manifest(s3, target, mode, text, inventory_uri)
        cost = estimate_cost(plan.selected, plan.listed, memory_mb, ms_per_image)
        print_plan(plan, cost, memory_mb, ms_per_image, out)
        if plan.selected == 0:
            print("nothing to do: no job", file=out)
        if dry_run or plan.selected == 0:
            text.detach()
            return {"plan": plan, "cost": cost}
        text.flush()
        manifest_key, manifest_etag = upload_manifest(s3, target, raw, mode)
        text.detach()
    request = job_request(target, manifest_key, manifest_etag, mode == "force", str(uuid.uuid4()))
    job_id = s3control.create_job(**request)["JobId"]
    print(f"job {job_id} created: manifest s3://{target.bucket}/{manifest_key}", file=out)
    job = follow(s3control, target.account_id, job_id, poll_seconds, sleep=sleep)
    summary = report_summary(s3, target.bucket, target.report_prefix, job_id) if job["Status"] != "Failed" or \
        job.get("ProgressSummary", {}).get("NumberOfTasksSucceeded") else None
    if summary:
        print_summary(summary, out)
    else:
        print(f"job {job_id} {job['Status']}: {job.get('FailureReasons') or job.get('StatusUpdateReason', '')}", file=out)
    return {"plan": plan, "cost": cost, "job": job, "summary": summary}


class LocalBatchJob:
    """Batch Operations on the stand-in: each manifest line becomes a schema 2.0 invocation of the
    handler; temporary failures are retried; the completion report is written in Batch Operations'
    own format, where the same summary reads it."""

    retries = 2

    def __init__(self, deployment, target: Target):
        self.deployment, self.target = deployment, target

    def run(self, manifest_key: str, force: bool) -> str:
        from .local import LocalContext
        s3, job_id = self.deployment.s3, str(uuid.uuid4())
        body = s3.get_object(Bucket=self.target.bucket, Key=manifest_key)["Body"]
        report = io.StringIO()
        writer = csv.writer(report, lineterminator="\n")
        for number, line in enumerate(csv.reader(io.TextIOWrapper(body, encoding="utf-8", newline=""))):
            bucket, key = line[0], line[1]
            event = {"invocationSchemaVersion": "2.0", "invocationId": str(uuid.uuid4()),
                     "job": {"id": job_id, "userArguments": {"force": "true" if force else "false"}},
                     "tasks": [{"taskId": f"task-{number}", "s3Bucket": bucket, "s3Key": key, "s3VersionId": None}]}
            for _ in range(1 + self.retries):
                answer = self.deployment.app.handler(event, LocalContext())["results"][0]
                self.deployment.invocations += 1
                if answer["resultCode"] != "TemporaryFailure":
                    break
            status = "succeeded" if answer["resultCode"] == "Succeeded" else "failed"
            code = "" if status == "succeeded" else answer["resultCode"]
            writer.writerow([bucket, key, "", status, code, 200, answer["resultString"]])
        prefix = f"{self.target.report_prefix}/job-{job_id}"
        results_key = f"{prefix}/results/{uuid.uuid4().hex}.csv"
        s3.put_object(Bucket=self.target.bucket, Key=results_key, Body=report.getvalue().encode())
        manifest = {"Format": "Report_CSV_20180820", "ReportCreationDate": datetime.now(timezone.utc).isoformat(),
                    "Results": [{"TaskExecutionStatus": "succeeded", "Bucket": self.target.bucket, "Key": results_key}],
                    "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}
        s3.put_object(Bucket=self.target.bucket, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode())
        return job_id


def run_local(images: list[Path], modes: list[str], bucket: str = "emotion-local-uploads",
              out: IO[str] | None = None, verbose: bool = False) -> list[dict[str, Any]]:
    """Upload ``images`` to the stand-in as if they were there before the function, then one
    backfill pass per mode: manifest, job, completion report, summary."""
    out = out or sys.stdout
    import os

    from moto import mock_aws

    from .local import LocalDeployment, use_stand_in_environment
    use_stand_in_environment()
    if not verbose:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    passes = []
    with mock_aws():
        deployment = LocalDeployment(bucket)
        template_prefix = parameter_defaults(load_template())["BackfillPrefix"]
        target = Target(bucket, deployment.prefix, template_prefix)
        for path in images:
            deployment.upload(f"{deployment.prefix}samples/{path.name}", path.read_bytes())
        # They were in the bucket before the function was deployed: no notification reached it.
        deployment.sqs.purge_queue(QueueUrl=deployment.queue_url)
        for mode in modes:
            started = time.perf_counter()
            with tempfile.TemporaryFile("w+b") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
                plan = plan_manifest(deployment.s3, target, mode, text)
                manifest_key, _ = upload_manifest(deployment.s3, target, raw, mode)
                text.detach()
            print(f"== {mode}", file=out)
            print_plan(plan, estimate_cost(plan.selected, plan.listed, 1024, DEFAULT_MS_PER_IMAGE), 1024,
                       DEFAULT_MS_PER_IMAGE, out)
            if plan.selected == 0:
                print("nothing to do: no job", file=out)
                passes.append({"mode": mode, "plan": plan, "summary": None, "events": deployment.pending_events()})
                continue
            # Metrics are printed as CloudWatch EMF lines: hide them unless asked for.
            with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()):
                job_id = LocalBatchJob(deployment, target).run(manifest_key, force=mode == "force")
            summary = report_summary(deployment.s3, bucket, target.report_prefix, job_id)
            elapsed = time.perf_counter() - started
            print_summary(summary, out)
            events = deployment.pending_events()  # results and backfill files must trigger nothing
            print(f"{elapsed:.2f} s, {events} events raised by results and backfill files", file=out)
            passes.append({"mode": mode, "plan": plan, "summary": summary, "events": events})
    return passes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.backfill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME",
                       help="deployed stack: bucket, prefixes, function and Batch Operations role from its outputs")
    where.add_argument("--bucket", help="upload bucket (instead of --stack; give --function-arn and --role-arn "
                                        "unless --dry-run)")
    where.add_argument("--local", action="store_true",
                       help="no AWS: upload the images to the S3 stand-in (moto), then run the backfill through "
                            "the handler there, as `make demo` does for uploads")
    parser.add_argument("--prefix", help="only keys under this prefix (default: the stack's UploadsPrefix, or the "
                                         "template's default with --bucket); it must lie inside the uploads prefix")
    parser.add_argument("--backfill-prefix", help="where manifests and reports go (default: the stack's "
                                                  "BackfillPrefix, or the template's default with --bucket)")
    parser.add_argument("--function-arn", help="the function to invoke (with --bucket)")
    parser.add_argument("--role-arn", help="the role Batch Operations assumes (with --bucket)")
    parser.add_argument("--inventory", metavar="S3_URI",
                        help="read the objects from an S3 Inventory report (s3://bucket/.../manifest.json, CSV) "
                             "instead of listing the bucket")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--only-missing", dest="mode", action="store_const", const="only-missing",
                      help="only images without a result object (needs the listing, not --inventory)")
    mode.add_argument("--outdated", dest="mode", action="store_const", const="outdated",
                      help="every image; the function redoes missing results and those made from other content or "
                           "by another model name or version, and leaves current ones (the default)")
    mode.add_argument("--force", dest="mode", action="store_const", const="force",
                      help="every image, and the function redoes every result")
    parser.add_argument("--dry-run", action="store_true",
                        help="list and count, estimate the cost, upload nothing and create no job")
    parser.add_argument("--poll-seconds", type=float, default=15,
                        help="seconds between progress checks of the job (default: %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="function memory for the cost estimate (default: the template's MemorySize)")
    parser.add_argument("--ms-per-image", type=float, default=DEFAULT_MS_PER_IMAGE,
                        help="billed duration per classified image for the cost estimate; timing_ms.total of a "
                             "few of your results tells (default: %(default)s)")
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--images", nargs="*", type=Path,
                        help="with --local: image files to put in the stand-in bucket first (default: infra/samples/)")
    parser.add_argument("--passes", default=None,
                        help="with --local: comma-separated modes run one after the other, e.g. "
                             "outdated,outdated,force (default: the chosen mode once)")
    parser.add_argument("--verbose", action="store_true", help="with --local: show the function's logs and metrics")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.mode = args.mode or "outdated"
    if args.inventory and args.mode == "only-missing":
        parser.error("--only-missing pairs images with results in the listing's order; an Inventory report has "
                     "no such order: use --outdated (the function leaves current results as they are)")
    if args.bucket and not args.dry_run and not (args.function_arn and args.role_arn):
        parser.error("--bucket needs --function-arn and --role-arn (or --dry-run)")
    if args.passes and not args.local:
        parser.error("--passes is for --local")
    if args.passes and not set(args.passes.split(",")) <= set(MODES):
        parser.error(f"--passes takes modes among {', '.join(MODES)}")
    return args


def main(argv: list[str] | None = None, clients: dict[str, Any] | None = None) -> int:
    args = parse_args(argv)
    if args.local:
        from .local_pipeline import default_images
        passes = run_local(args.images or default_images(), (args.passes or args.mode).split(","),
                           verbose=args.verbose)
        failed = sum(n for p in passes if p["summary"]
                     for name, n in p["summary"]["outcomes"].items() if name.startswith("failed"))
        return 0 if failed == 0 else 1
    if clients is None:
        import boto3
        session = boto3.session.Session(region_name=args.region)
        clients = {name: session.client(name) for name in ("s3", "s3control", "cloudformation")}
    template = parameter_defaults(load_template())
    if args.stack:
        target = stack_target(clients["cloudformation"], args.stack)
    else:
        target = Target(args.bucket, template["UploadsPrefix"], template["BackfillPrefix"], args.function_arn,
                        args.role_arn)
    if args.prefix:
        if not args.prefix.startswith(target.uploads_prefix):
            raise SystemExit(f"--prefix {args.prefix!r} is outside the uploads prefix {target.uploads_prefix!r}")
        target = Target(target.bucket, args.prefix, args.backfill_prefix or target.backfill_prefix,
                        target.function_arn, target.role_arn)
    elif args.backfill_prefix:
        target = Target(target.bucket, target.uploads_prefix, args.backfill_prefix, target.function_arn,
                        target.role_arn)
    memory = args.memory_mb or int(template["MemorySize"])
    outcome = run_aws(clients["s3"], clients["s3control"], target, args.mode, args.dry_run, args.inventory,
                      args.poll_seconds, memory, args.ms_per_image)
    job = outcome.get("job")
    if job is None:
        return 0
    failed = job.get("ProgressSummary", {}).get("NumberOfTasksFailed", 0)
    return 0 if job["Status"] == "Complete" and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
