"""What can go wrong copying a remote file into S3, by what the downloader does about it."""

from __future__ import annotations


class DownloadFailed(Exception):
    """Worth retrying later: the network or the server misbehaved."""


class DownloadRefused(DownloadFailed):
    """The URL was refused as expired or unknown: a fresh URL may work."""


class DownloadForbidden(Exception):
    """Never worth retrying (for example a host we must not fetch from)."""


class OutputTooLarge(DownloadForbidden):
    """Over DownloadMaxBytes: it will not be smaller next time."""
