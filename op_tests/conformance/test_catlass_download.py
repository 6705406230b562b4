"""The catlass headers come from PyPI: a download that fails is a test failure with the pip command
and its output, never a skip."""

from __future__ import annotations

import pytest

from . import conftest


def test_failed_download_fails_with_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ASCEND_GLM5_CACHE", str(tmp_path))
    monkeypatch.setattr(conftest, "WHEEL_VERSION", "0.0.0.dev0")  # no such release
    with pytest.raises(pytest.fail.Exception, match=r"could not download the catlass headers .*pip download"):
        conftest.catlass_include()
