"""The local AWS endpoint (local/moto_server.py): a table's stream after a cancelled transaction."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import running_moto_server


def test_a_stream_reader_sees_the_writes_after_a_cancelled_transaction_and_not_its_own() -> None:
    # moto rolls a cancelled transaction back by swapping in copies of its tables, streams and
    # all, so a reader's iterator stayed on a stream no write reached: the events function's
    # mapping published the cancelled write and no event after it.
    with running_moto_server() as url:
        options = {"region_name": "us-east-1", "endpoint_url": url}
        options |= {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        dynamodb, streams = boto3.client("dynamodb", **options), boto3.client("dynamodbstreams", **options)
        for name in ("jobs", "usage"):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        arn = dynamodb.describe_table(TableName="jobs")["Table"]["LatestStreamArn"]
        (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        dynamodb.put_item(TableName="jobs", Item={"k": {"S": "before"}})
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        answer = streams.get_records(ShardIterator=iterator)
        assert len(answer["Records"]) == 1
        with pytest.raises(ClientError, match="TransactionCanceled"):
            dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "jobs", "Item": {"k": {"S": "cancelled"}}}},
                    {
                        "Put": {
                            "TableName": "usage",
                            "Item": {"k": {"S": "over"}},
                            "ConditionExpression": "attribute_exists(k)",
                        }
                    },
                ]
            )
        dynamodb.put_item(TableName="jobs", Item={"k": {"S": "after"}})
        records = streams.get_records(ShardIterator=answer["NextShardIterator"])["Records"]
        assert [record["dynamodb"]["Keys"]["k"]["S"] for record in records] == ["after"]
        assert "Item" not in dynamodb.get_item(TableName="jobs", Key={"k": {"S": "cancelled"}})
