"""The AWS fault proxy over HTTP (CONTRACT §2): its `/_faults` control API, the operations it
names, the errors it answers in each service's own format, and everything else passed through
byte for byte."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from local.config import LocalConfig
from local.faults import FaultProxy
from tests.conftest import running_moto_server

_NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    with running_moto_server() as url:
        proxy = FaultProxy(url)
        proxy.start()
        try:
            yield proxy
        finally:
            proxy.stop()


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[str]:
    yield f"{proxy.url}/_faults"
    requests.delete(f"{proxy.url}/_faults", timeout=5)


def _client(proxy: FaultProxy, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=proxy.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=_NO_RETRIES,
    )


def _calls(faults: str, operation: str) -> int:
    return int(requests.get(faults, timeout=5).json()["calls"].get(operation, 0))


def test_a_fault_fails_the_next_calls_after_letting_some_through(proxy: FaultProxy, faults: str) -> None:
    dynamodb = _client(proxy, "dynamodb")
    dynamodb.create_table(
        TableName="faults",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    made = requests.post(faults, json={"operation": "PutItem", "count": 2, "after": 1}, timeout=5)
    assert made.status_code == 201
    assert made.json()["left"] == 2
    before = _calls(faults, "PutItem")
    outcomes = []
    for index in range(4):
        try:
            dynamodb.put_item(TableName="faults", Item={"k": {"S": str(index)}})
            outcomes.append("ok")
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            outcomes.append(f"{status} {error.response['Error']['Code']}")
    assert outcomes == ["ok", "500 InternalServerError", "500 InternalServerError", "ok"]
    # What failed never reached moto.
    assert sorted(item["k"]["S"] for item in dynamodb.scan(TableName="faults")["Items"]) == ["0", "3"]
    state = requests.get(faults, timeout=5).json()
    assert state["calls"]["PutItem"] - before == 4
    assert state["faults"] == [
        {"operation": "PutItem", "count": 2, "after": 1, "seen": 3, "failed": 2, "left": 0}
    ]
    assert requests.delete(faults, timeout=5).json()["faults"] == []


def test_s3_faults_are_s3s_xml_and_objects_pass_through_whole(proxy: FaultProxy, faults: str) -> None:
    s3 = _client(proxy, "s3")
    s3.create_bucket(Bucket="faults")
    requests.post(faults, json={"operation": "PutObject", "count": 1}, timeout=5).raise_for_status()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="faults", Key="a", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InternalError"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # A multipart upload (Expect: 100-continue, 5 MiB parts) comes out byte-exact, and HEAD keeps
    # the object's size.
    data = os.urandom(11 * 1024 * 1024)
    s3.upload_fileobj(_Stream(data), "faults", "big")
    assert s3.head_object(Bucket="faults", Key="big")["ContentLength"] == len(data)
    fetched = s3.get_object(Bucket="faults", Key="big")["Body"].read()
    assert hashlib.sha256(fetched).digest() == hashlib.sha256(data).digest()
    for operation in (
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "HeadObject",
        "GetObject",
    ):
        assert _calls(faults, operation) >= 1, operation


def test_sqs_json_faults_are_sqs_errors(proxy: FaultProxy, faults: str) -> None:
    sqs = _client(proxy, "sqs")
    url = sqs.create_queue(QueueName="faults")["QueueUrl"]
    requests.post(faults, json={"operation": "SendMessage", "count": 1}, timeout=5).raise_for_status()
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="m")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    sqs.send_message(QueueUrl=url, MessageBody="m")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "m"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"operation": "", "count": 1}',
        b'{"operation": "PutItem"}',
        b'{"operation": "PutItem", "count": 0}',
        b'{"operation": "PutItem", "count": true}',
        b'{"operation": "PutItem", "count": 1, "after": -1}',
        b'{"operation": "PutItem", "count": 1, "later": 2}',
    ],
)
def test_a_bad_fault_is_a_precise_400_and_adds_nothing(faults: str, body: bytes) -> None:
    answer = requests.post(faults, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "validation_failed"
    assert requests.get(faults, timeout=5).json()["faults"] == []


def test_local_aws_faults_turns_the_proxy_on_at_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_AWS_FAULTS", raising=False)
    monkeypatch.delenv("LOCAL_FAULTS_PORT", raising=False)
    assert (LocalConfig.from_environment().aws_faults, LocalConfig.from_environment().faults_port) == (
        False,
        5001,
    )
    monkeypatch.setenv("LOCAL_AWS_FAULTS", "1")
    monkeypatch.setenv("LOCAL_FAULTS_PORT", "5107")
    assert (LocalConfig.from_environment().aws_faults, LocalConfig.from_environment().faults_port) == (
        True,
        5107,
    )
    monkeypatch.setenv("LOCAL_AWS_FAULTS", "maybe")
    with pytest.raises(SystemExit):
        LocalConfig.from_environment()


class _Stream:
    """A non-seekable body, as a download streams it."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk, self._data = self._data[:size], self._data[size:]
        return bytes(chunk)
