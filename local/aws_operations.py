"""Which AWS operation an HTTP request to an AWS endpoint is, and how that service answers an
internal error: what the fault proxy (local/faults.py) counts and fails by name."""

from __future__ import annotations

from urllib.parse import parse_qs

# S3 sub-resources named in the query, as the operation's noun (GetBucketTagging, PutObjectTagging).
_BUCKET_SUBRESOURCES = {
    "tagging": "BucketTagging",
    "policy": "BucketPolicy",
    "versioning": "BucketVersioning",
    "notification": "BucketNotificationConfiguration",
    "cors": "BucketCors",
    "lifecycle": "BucketLifecycleConfiguration",
    "encryption": "BucketEncryption",
    "publicAccessBlock": "PublicAccessBlock",
    "ownershipControls": "BucketOwnershipControls",
    "location": "BucketLocation",
    "acl": "BucketAcl",
    "logging": "BucketLogging",
    "website": "BucketWebsite",
}
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head"}


def operation(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(protocol, operation): protocol is "json" (X-Amz-Target), "query" (form body Action) or
    "s3" (REST); headers are lower-cased."""
    target = headers.get("x-amz-target", "")
    if target:
        return "json", target.rsplit(".", 1)[-1]
    if body[:7] == b"Action=" or "Action=" in query:
        form = parse_qs(body.decode(errors="replace")) if body[:7] == b"Action=" else parse_qs(query)
        return "query", form.get("Action", [""])[0]
    return "s3", s3_operation(method, path, query, headers)


def s3_operation(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The S3 REST operation of a path-style request (what boto3 sends to an IP endpoint)."""
    params = parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    verb = _VERBS.get(method, method.title())
    if not bucket:
        return "ListBuckets"
    if not key:
        for name, noun in _BUCKET_SUBRESOURCES.items():
            if name in params:
                return verb + noun
        if "uploads" in params:
            return "ListMultipartUploads"
        if method == "POST" and "delete" in params:
            return "DeleteObjects"
        return {
            "GET": "ListObjectsV2" if params.get("list-type") == ["2"] else "ListObjects",
            "PUT": "CreateBucket",
            "HEAD": "HeadBucket",
            "DELETE": "DeleteBucket",
        }.get(method, f"{verb}Bucket")
    copy = "x-amz-copy-source" in headers
    if "tagging" in params:
        return f"{verb}ObjectTagging"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in params else "CompleteMultipartUpload"
    if "uploadId" in params:
        return {
            "PUT": "UploadPartCopy" if copy else "UploadPart",
            "GET": "ListParts",
            "DELETE": "AbortMultipartUpload",
        }.get(method, f"{verb}Part")
    return {
        "PUT": "CopyObject" if copy else "PutObject",
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "DELETE": "DeleteObject",
    }.get(method, f"{verb}Object")


def internal_error(protocol: str, target: str) -> tuple[dict[str, str], bytes]:
    """(headers, body) of an HTTP 500 as the service itself words it."""
    if protocol == "json":
        service = target.split(".", 1)[0] if "." in target else ""
        # DynamoDB names its errors with their namespace; the other JSON services plainly.
        kind = (
            "com.amazonaws.dynamodb.v20120810#InternalServerError"
            if service.startswith("DynamoDB")
            else "InternalServerError"
        )
        body = f'{{"__type":"{kind}","message":"Internal server error (injected fault)"}}'.encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": "InternalServerError"}
        if service.startswith("AmazonSQS"):
            headers["x-amzn-query-error"] = "InternalError;Receiver"
        return headers, body
    if protocol == "query":
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>Receiver</Type>'
            b"<Code>InternalServerError</Code><Message>Internal server error (injected fault)</Message>"
            b"</Error><RequestId>injected-fault</RequestId></ErrorResponse>"
        )
        return {"Content-Type": "text/xml"}, body
    # S3's own code for a 500 is InternalError.
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
        b"<Message>We encountered an internal error. Please try again. (injected fault)</Message>"
        b"<RequestId>injected-fault</RequestId></Error>"
    )
    return {"Content-Type": "application/xml"}, body
