"""`make push-image` records the digest the registry stored (issue: it recorded podman's
local `RepoDigests`, which the registry did not have: "manifest unknown").

The pure part (which digest, which reference) is tested on what podman and docker print;
the whole target runs once against a real registry on loopback, with podman, and the
recorded reference must be what the registry serves and must pull."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.oci_registry import OciRegistry, oci_registry  # noqa: F401 (fixture)
from typer.testing import CliRunner

from contrail.cli import app
from contrail.release import image as images
from contrail.release.versions import ReleaseError, check_image

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "f" * 64
# What `docker push` prints with the classic image store (the containerd store prints the
# same last line, after "Pushed" lines of its own).
DOCKER_PUSH = f"""The push refers to repository [ghcr.io/octo/flights/flight-delay]
5f70bf18a086: Pushed
a3ed95caeb02: Layer already exists
0123abcd4567: Pushed
{"0" * 12}: digest: {DIGEST} size: 1782
"""


def test_podman_digest_file_is_the_digest() -> None:
    assert images.digest_from_file(DIGEST) == DIGEST
    assert images.digest_from_file(f"{DIGEST}\n") == DIGEST


@pytest.mark.parametrize(
    "text", ["", "sha256:abc", DIGEST.upper(), f"sha512:{'0' * 128}", f"{DIGEST} {OTHER}"]
)
def test_podman_digest_file_must_hold_one_sha256(text: str) -> None:
    with pytest.raises(ReleaseError, match=r"not a digest sha256:<64 hex>"):
        images.digest_from_file(text)


def test_docker_push_output_gives_the_pushed_tags_digest() -> None:
    assert images.digest_from_push_output(DOCKER_PUSH, "0" * 12) == DIGEST


def test_docker_push_output_with_the_line_repeated_is_one_digest() -> None:
    assert images.digest_from_push_output(DOCKER_PUSH * 2, "0" * 12) == DIGEST


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("The push refers to repository [x]\nabc: Pushed\n", "no"),
        (DOCKER_PUSH.replace("0" * 12, "latest"), "no"),  # another tag's digest
        (DOCKER_PUSH + f"{'0' * 12}: digest: {OTHER} size: 10\n", "2 different"),
    ],
)
def test_docker_push_output_without_exactly_one_digest_is_refused(output: str, said: str) -> None:
    with pytest.raises(ReleaseError, match=f"printed {said} "):
        images.digest_from_push_output(output, "0" * 12)


def test_docker_push_output_with_a_bad_digest_is_refused() -> None:
    output = f"{'0' * 12}: digest: sha256:xyz size: 10\n"
    with pytest.raises(ReleaseError, match="docker push gave 'sha256:xyz'"):
        images.digest_from_push_output(output, "0" * 12)


def test_reference_is_lowercase_and_register_accepts_it() -> None:
    ref = images.reference("ghcr.io/Octo/Flights/flight-delay", DIGEST)
    assert ref == f"ghcr.io/octo/flights/flight-delay@{DIGEST}"
    assert check_image(ref) == ref


@pytest.mark.parametrize(
    "name",
    ["127.0.0.1:5000/octo/flight-delay", "localhost/contrail/flight-delay", "flight-delay"],
)
def test_repositories(name: str) -> None:
    assert images.repository(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ghcr.io/octo/flight-delay:v1",  # a tag
        f"ghcr.io/octo/flight-delay@{DIGEST}",
        "flight-delay:5000",  # a tag that looks like a port
        "ghcr.io//flight-delay",
        "ghcr.io/octo/flight delay",
        "-ghcr.io/octo",
    ],
)
def test_not_repositories(name: str) -> None:
    with pytest.raises(ReleaseError, match="is not an image repository"):
        images.repository(name)


@pytest.mark.parametrize("tag", ["", "-x", "a" * 129, "v1:2", "v1/2"])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(ReleaseError, match="is not an image tag"):
        images.check_tag(tag)


def test_unknown_backend() -> None:
    with pytest.raises(ReleaseError, match="use docker or podman"):
        images.check_backend("buildah")
    assert images.check_backend("podman") == "podman"


# ----------------------------------------------------------------------------------------
# The command with docker (not installed here): a stand-in `docker` prints what docker does.
# ----------------------------------------------------------------------------------------
FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$CALLS"
[ "$1" = push ] || exit 0
[ -z "$FAIL" ] || { echo "denied: permission_denied" >&2; exit 1; }
echo "The push refers to repository [${2%:*}]"
echo "5f70bf18a086: Pushed"
echo "${2##*:}: digest: DIGEST size: 1782"
""".replace("DIGEST", DIGEST)


def push_with_fake_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> tuple[str, list[str]]:
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("FAIL", "1" if code else "")
    result = CliRunner().invoke(
        app,
        [
            "release", "push-image", "--image", "contrail/flight-delay:local",
            "--repository", "ghcr.io/Octo/Flights/flight-delay", "--tag", "0123abcd",
            "--ref-file", str(tmp_path / "ref"), "--github-output", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert result.exit_code == code, result.output
    return result.output, calls.read_text().splitlines()


def test_cli_records_what_docker_push_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, calls = push_with_fake_docker(tmp_path, monkeypatch, 0)
    pushed = "ghcr.io/octo/flights/flight-delay:0123abcd"
    assert calls == [f"tag contrail/flight-delay:local {pushed}", f"push {pushed}"]
    ref = f"ghcr.io/octo/flights/flight-delay@{DIGEST}"
    assert "5f70bf18a086: Pushed" in output  # docker's progress is passed through
    assert output.strip().splitlines()[-1] == f"pushed {ref}"
    assert (tmp_path / "ref").read_text() == f"{ref}\n"
    assert (tmp_path / "out").read_text() == f"image={ref}\n"


def test_cli_failed_push_exits_2_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, _ = push_with_fake_docker(tmp_path, monkeypatch, 2)
    assert "contrail release push-image: `docker push` exited with 1" in output
    assert not (tmp_path / "ref").exists()
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------
# The real target: podman pushes to a registry on loopback.
# ----------------------------------------------------------------------------------------


def podman(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@pytest.fixture
def tiny_image(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-file image imported from a tar (no base image, no build), and the environment
    that points podman at the test registry's registries.conf (set by the test)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (../shared/tools/container-engine.sh installs it)")
    content = tmp_path / "rootfs"
    content.mkdir()
    (content / "hello.txt").write_text(f"contrail push-image test {uuid.uuid4()}\n")
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(content / "hello.txt", arcname="hello.txt")
    name = f"localhost/contrail-test/tiny:{uuid.uuid4().hex[:12]}"
    env = dict(os.environ)
    podman("import", str(archive), name, env=env)
    yield name, env
    subprocess.run(["podman", "rmi", "--force", name], capture_output=True, check=False)


def test_make_push_image_records_the_digest_the_registry_serves(
    oci_registry: OciRegistry,  # noqa: F811
    tiny_image: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    local, env = tiny_image
    env["CONTAINERS_REGISTRIES_CONF"] = str(oci_registry.registries_conf)
    env.pop("IMAGE_TAG", None)
    ref_file, outputs = tmp_path / "image-ref.txt", tmp_path / "github-output"
    outputs.touch()
    # Capitals as in a GitHub owner's name: the pushed repository is lowercased.
    repository = f"{oci_registry.host}/Octo/Flights/flight-delay"
    make = subprocess.run(
        [
            "make", "--no-print-directory", "-C", str(REPO), "push-image",
            "CONTAINER_BACKEND=podman", f"IMAGE_REPOSITORY={repository}",
            f"LOCAL_IMAGE={local}", f"IMAGE_REF_FILE={ref_file}",
        ],
        env={**env, "GITHUB_OUTPUT": str(outputs)},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]

    tag = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    served = oci_registry.digest("octo/flights/flight-delay", tag)
    expected = f"{oci_registry.host}/octo/flights/flight-delay@{served}"
    assert ref_file.read_text() == f"{expected}\n"
    assert outputs.read_text() == f"image={expected}\n"
    assert f"pushed {expected}" in make.stdout

    # Pull by the recorded reference, with nothing of the image left locally.
    image_id = podman("image", "inspect", "--format", "{{.Id}}", local, env=env)
    podman("rmi", "--force", image_id, env=env)
    podman("pull", "--quiet", expected, env=env)
    assert podman("image", "inspect", "--format", "{{.Id}}", expected, env=env) == image_id
    podman("rmi", "--force", image_id, env=env)
