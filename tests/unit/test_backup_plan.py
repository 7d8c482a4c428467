"""What a backup holds and where: snapshot names, the layout, which objects are copied again, which
snapshots and blobs retention drops, which snapshot a restore reads."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.logic.backup_plan import (
    Manifest,
    blob_key,
    choose,
    expired,
    known_md5,
    plain_md5,
    snapshot_id,
    snapshot_key,
    split_url,
    unreferenced,
)

MD5 = "0123456789abcdef0123456789abcdef"


def manifest(*md5s: str) -> Manifest:
    objects = {f"k{n}": {"md5": md5, "bytes": 1, "etag": f'"{md5}"'} for n, md5 in enumerate(md5s)}
    return {"id": "x", "created": "", "databases": {}, "objects": {"data": objects}}  # type: ignore[dict-item]


def test_snapshot_names_are_utc_seconds_that_sort_by_age() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert snapshot_id(dt.datetime(2026, 12, 4, 4, 17, 5, tzinfo=paris)) == "20261204T031705Z"
    names = [snapshot_id(dt.datetime(2026, 1, day, tzinfo=dt.UTC)) for day in (9, 10, 2)]
    assert sorted(names) == [names[2], names[0], names[1]]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://backups", ("backups", "")),
        ("s3://backups/", ("backups", "")),
        ("s3://backups/prod/mlops", ("backups", "prod/mlops/")),
        ("s3://backups/prod/", ("backups", "prod/")),
    ],
)
def test_a_destination_url_is_a_bucket_and_a_prefix(url: str, expected: tuple[str, str]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize("url", ["backups", "https://host/backups", "s3://", "/backups"])
def test_a_destination_that_is_not_an_s3_url_is_refused_with_its_form(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3://bucket\[/prefix\]"):
        split_url(url)


def test_snapshots_and_blobs_live_under_the_prefix() -> None:
    assert (
        snapshot_key("prod/", "20261204T031705Z", "mlflow.dump")
        == "prod/snapshots/20261204T031705Z/mlflow.dump"
    )
    assert blob_key("", MD5) == f"blobs/01/{MD5}"


def test_only_a_single_part_etag_is_an_md5() -> None:
    assert plain_md5(f'"{MD5}"') == MD5
    assert plain_md5(f'"{MD5}-3"') is None  # multipart: not the content's MD5
    assert plain_md5('"not-an-md5"') is None


def test_an_object_unchanged_since_the_last_snapshot_is_not_read_again() -> None:
    previous = manifest(MD5)
    assert known_md5(previous, "data", "k0", f'"{MD5}"', 1) == MD5
    assert known_md5(previous, "data", "k0", '"other"', 1) is None  # rewritten
    assert known_md5(previous, "data", "k0", f'"{MD5}"', 2) is None
    assert known_md5(previous, "data", "new", f'"{MD5}"', 1) is None
    assert known_md5(previous, "landing", "k0", f'"{MD5}"', 1) is None
    assert known_md5(None, "data", "k0", f'"{MD5}"', 1) is None


def test_a_restore_reads_the_latest_snapshot_or_the_one_named() -> None:
    held = ["20261203T031700Z", "20261204T031700Z", "20261202T031700Z"]
    assert choose(held, "latest") == "20261204T031700Z"
    assert choose(held, "20261202T031700Z") == "20261202T031700Z"
    with pytest.raises(LookupError, match="no snapshot '20261201T031700Z'; the destination holds 20261202"):
        choose(held, "20261201T031700Z")
    with pytest.raises(LookupError, match="holds no snapshot"):
        choose([], "latest")


def test_retention_keeps_the_newest_snapshots() -> None:
    held = ["20261203T0", "20261201T0", "20261204T0", "20261202T0"]
    assert expired(held, 2) == ["20261201T0", "20261202T0"]
    assert expired(held, 7) == []
    with pytest.raises(ValueError, match="at least 1 snapshot, not 0"):
        expired(held, 0)


def test_a_blob_goes_only_when_no_kept_snapshot_names_it() -> None:
    other = "f" * 32
    assert unreferenced([MD5, other, "e" * 32], [manifest(MD5), manifest(MD5, other)]) == ["e" * 32]
    assert unreferenced([MD5], []) == [MD5]
