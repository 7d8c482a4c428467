"""Run inside a probe pod (`python -c` of this file's text): each attempt of $ATTEMPTS, printed as one JSON
line of name -> outcome. Only the standard library and boto3 (the flow-runner image has both).

An attempt is {"tcp": "ip:port"} (outcome "connected" or why not), {"http": [method, url], "auth": bool,
"csrf": bool, "body": ...} (the status; Prefect's basic auth from $PREFECT_API_AUTH_STRING, its CSRF token
fetched first when "csrf"), or {"s3": "list" | "put", "bucket": b} (ok or S3's error code, with $AWS_* and
$S3_ENDPOINT).
"""

import base64
import json
import os
import socket
import sys
import urllib.error
import urllib.request
import uuid


def tcp(address):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=4).close()
    except TimeoutError:
        return "timed out"  # a dropped packet: no answer at all
    except OSError as error:
        return type(error).__name__
    return "connected"


def http(method, url, auth, csrf, body):
    headers = {"Content-Type": "application/json"}
    if auth:
        encoded = base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
        headers["Authorization"] = f"Basic {encoded}"
    try:
        if csrf:
            client = str(uuid.uuid4())
            api = url.split("/api/", 1)[0] + "/api"
            token_request = urllib.request.Request(f"{api}/csrf-token?client={client}", headers=headers)
            with urllib.request.urlopen(token_request, timeout=10) as response:
                token = json.load(response)["token"]
            headers |= {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client}
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return type(error).__name__


def s3(operation, bucket):
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
    try:
        if operation == "list":
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        else:
            client.put_object(Bucket=bucket, Key="e2e/network-probe", Body=b"x")
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"


def attempt(spec):
    if "tcp" in spec:
        return tcp(spec["tcp"])
    if "http" in spec:
        method, url = spec["http"]
        return http(method, url, spec.get("auth", False), spec.get("csrf", False), spec.get("body"))
    return s3(spec["s3"], spec["bucket"])


outcomes = {name: attempt(spec) for name, spec in json.loads(os.environ["ATTEMPTS"]).items()}
print(json.dumps(outcomes))
sys.stdout.flush()
