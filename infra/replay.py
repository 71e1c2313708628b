"""Re-drive events that failed after all retries.

Lambda's on-failure destination (the stack's FailureQueue) holds one record per failed event,
with the original S3 event as ``requestPayload``. This reads them, invokes the function again
asynchronously with that payload, and deletes each record once the invocation was accepted.

    python -m infra.replay --stack-name emotion-service            # look up queue and function
    python -m infra.replay --queue-url URL --function-name NAME --dry-run
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

import boto3


def failed_events(record_body: str) -> dict[str, Any]:
    record = json.loads(record_body)
    payload = record.get("requestPayload")
    if not isinstance(payload, dict) or "Records" not in payload:
        raise ValueError("not a Lambda destination record with an S3 event payload")
    return payload


def replay(sqs, queue_url: str, invoke: Callable[[dict[str, Any]], None], dry_run: bool = False,
           limit: int | None = None) -> dict[str, int]:
    counts = {"replayed": 0, "failed": 0, "unreadable": 0}
    while limit is None or sum(counts.values()) < limit:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            break
        for message in messages:
            try:
                payload = failed_events(message["Body"])
            except (ValueError, json.JSONDecodeError) as exc:
                counts["unreadable"] += 1
                print(f"skipping unreadable message {message['MessageId']}: {exc}", file=sys.stderr)
                continue
            keys = [r["s3"]["object"]["key"] for r in payload["Records"]]
            if dry_run:
                print(f"would replay {keys}")
                counts["replayed"] += 1
                continue
            try:
                invoke(payload)
            except Exception as exc:  # leave the record for the next replay
                counts["failed"] += 1
                print(f"replay of {keys} failed: {exc!r}", file=sys.stderr)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            counts["replayed"] += 1
            print(f"replayed {keys}")
    return counts


def lambda_invoker(function_name: str, client=None) -> Callable[[dict[str, Any]], None]:
    client = client or boto3.client("lambda")

    def invoke(payload: dict[str, Any]) -> None:
        # Asynchronous, like the S3 trigger: retries and the failure destination apply again.
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode())
    return invoke


def stack_outputs(stack_name: str) -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack-name", help="deployed stack: read FailureQueueUrl and EmotionFunctionArn from its outputs")
    parser.add_argument("--queue-url", help="failure queue URL (instead of --stack-name)")
    parser.add_argument("--function-name", help="function name or ARN (instead of --stack-name)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many records")
    args = parser.parse_args(argv)
    queue_url, function = args.queue_url, args.function_name
    if args.stack_name:
        outputs = stack_outputs(args.stack_name)
        queue_url = queue_url or outputs["FailureQueueUrl"]
        function = function or outputs["EmotionFunctionArn"]
    if not queue_url or not function:
        parser.error("give --stack-name, or both --queue-url and --function-name")
    counts = replay(boto3.client("sqs"), queue_url, lambda_invoker(function), args.dry_run, args.limit)
    print(json.dumps(counts))
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
