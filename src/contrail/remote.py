"""Which optional DVC plugin a remote URL needs: the dependency group that installs it.

DVC reads the storage from the URL's scheme and needs one plugin package per cloud
(`dvc-s3`, `dvc-gs`, ...). They are locked in uv.lock as dependency groups that a default
install leaves out; `make repro`/`make push` install the one group that `DVC_REMOTE_URL`
names (`contrail remote-plugin`). Errors name the scheme only, never the URL, which may
carry credentials.
"""

from __future__ import annotations

import re

# The URL scheme DVC dispatches on -> the pyproject.toml dependency group with its plugin.
PLUGIN_GROUPS: dict[str, str] = {
    "s3": "remote-s3",
    "gs": "remote-gs",
    "azure": "remote-azure",
    "ssh": "remote-ssh",
}
# Served by dvc itself (dvc depends on dvc-http): nothing to install.
BUILT_IN = ("http", "https")
SUPPORTED = ", ".join(f"{scheme}://" for scheme in (*PLUGIN_GROUPS, *BUILT_IN)) + " and local paths"


# What urllib's urlparse, and so DVC, takes for a scheme: a letter, then letters, digits, +-.
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class UnsupportedRemote(ValueError):
    """A remote URL this project has no locked plugin for; the message says what is."""


def plugin_group(url: str) -> str | None:
    """The dependency group to install for a DVC remote at `url`; None when none is needed.

    Local paths (absolute, relative, or with a Windows drive letter) need nothing. So do
    http:// and https://. `file://` URLs are refused: DVC does not read them as URLs but as
    a relative folder named `file:`, so a push would land inside the repository.
    """
    url = url.strip()
    if not url:
        raise UnsupportedRemote("the DVC remote URL is empty")
    match = SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if len(scheme) <= 1:  # a path; one letter is a Windows drive (C:\store)
        return None
    if scheme in PLUGIN_GROUPS:
        return PLUGIN_GROUPS[scheme]
    if scheme in BUILT_IN:
        return None
    if scheme == "file":
        raise UnsupportedRemote(
            "unsupported DVC remote scheme 'file://': DVC takes a local remote as a plain "
            "path (e.g. /srv/dvc-store)"
        )
    raise UnsupportedRemote(
        f"unsupported DVC remote scheme '{scheme}://': supported are {SUPPORTED}"
    )
