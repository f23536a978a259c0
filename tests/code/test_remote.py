"""Which DVC plugin a remote URL needs: `plugin_group`, `contrail remote-plugin`, and the
dependency groups in pyproject.toml/uv.lock that the Makefile installs from its answer."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from contrail.remote import PLUGIN_GROUPS, UnsupportedRemote, plugin_group

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRAIL = str(Path(sys.executable).parent / "contrail")


@pytest.mark.parametrize(
    ("url", "group"),
    [
        ("s3://bucket/contrail", "remote-s3"),
        ("S3://bucket/contrail", "remote-s3"),  # schemes are case-insensitive, as for DVC
        ("gs://bucket/contrail", "remote-gs"),
        ("azure://container/contrail", "remote-azure"),
        ("ssh://user@host:2222/srv/dvc", "remote-ssh"),
        ("  s3://bucket/contrail\n", "remote-s3"),  # stray whitespace from a secret
    ],
)
def test_cloud_schemes_need_their_plugin_group(url, group):
    assert plugin_group(url) == group


@pytest.mark.parametrize(
    "url",
    [
        "/srv/dvc-store",
        "../dvc-store",
        "dvc-store",
        r"C:\dvc-store",
        "D:/dvc-store",
        "https://example.com/dvc",  # dvc-http comes with dvc
        "http://example.com/dvc",
    ],
)
def test_local_paths_and_http_need_nothing(url):
    assert plugin_group(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("hdfs://namenode/dvc", "unsupported DVC remote scheme 'hdfs://'"),
        ("gdrive://folder-id", "unsupported DVC remote scheme 'gdrive://'"),
        ("webdav://host/dvc", "unsupported DVC remote scheme 'webdav://'"),
        ("file:///srv/dvc-store", "DVC takes a local remote as a plain path"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_unsupported_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(UnsupportedRemote, match=reason):
        plugin_group(url)


def test_the_error_lists_the_supported_schemes():
    with pytest.raises(UnsupportedRemote) as info:
        plugin_group("oss://bucket/dvc")
    for scheme in ("s3://", "gs://", "azure://", "ssh://", "local paths"):
        assert scheme in str(info.value)


def remote_plugin(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONTRAIL, "remote-plugin", url], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("url", "printed"),
    [("s3://bucket/x", "remote-s3\n"), ("gs://bucket/x", "remote-gs\n"), ("/srv/store", "")],
)
def test_cli_prints_the_group_or_nothing(url, printed):
    result = remote_plugin(url)
    assert (result.returncode, result.stdout, result.stderr) == (0, printed, "")


def test_cli_refuses_an_unsupported_scheme_in_one_line_without_the_url():
    secret = "hunter2"
    result = remote_plugin(f"hdfs://user:{secret}@namenode/dvc")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("contrail remote-plugin failed: unsupported DVC remote scheme 'hdfs://'")
    assert "s3://, gs://, azure://" in line
    assert secret not in line and "Traceback" not in result.stderr


def test_each_plugin_group_is_locked_and_left_out_of_the_default_install():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    groups = pyproject["dependency-groups"]
    default_groups = pyproject["tool"]["uv"]["default-groups"]
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {package["name"] for package in lock["package"]}
    for scheme, group in PLUGIN_GROUPS.items():
        assert group not in default_groups
        assert [requirement.split(">")[0] for requirement in groups[group]] == [f"dvc-{scheme}"]
        assert f"dvc-{scheme}" in locked
