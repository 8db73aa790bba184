"""The ``serve:`` section: its settings reach the Config; mistakes are located issues."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.loader import check_config, load_config
from reconciler.config.model import SecretRef, ServeSettings
from tests.support.configs import WriteConfig


def test_without_a_serve_section_the_defaults_apply(write_config: WriteConfig, valid_text: str) -> None:
    serve = load_config(write_config(valid_text)).serve

    assert serve == ServeSettings()
    assert (serve.interval_s, serve.debounce_s, serve.auto_apply, serve.webhook_key) == (3600.0, 60.0, False, None)


def test_every_serve_setting_reaches_the_config(write_config: WriteConfig, valid_text: str, tmp_path: Path) -> None:
    path = write_config(
        valid_text
        + "serve:\n  interval_s: 900\n  debounce_s: 2.5\n  auto_apply: true\n"
        + "  webhook_key: ${PS_WEBHOOK_KEY}\n  out_dir: runs/serve\n"
    )

    serve = load_config(path).serve

    assert serve.interval_s == 900.0 and isinstance(serve.interval_s, float)
    assert serve.debounce_s == 2.5
    assert serve.auto_apply is True
    assert serve.out_dir == str(tmp_path / "runs" / "serve")
    assert serve.webhook_key == SecretRef(env="PS_WEBHOOK_KEY", where=f"{path}:16:3: serve.webhook_key")


def test_the_webhook_key_may_live_in_a_file(write_config: WriteConfig, valid_text: str, tmp_path: Path) -> None:
    (tmp_path / "webhook.key").write_text("k" * 32 + "\n", encoding="utf-8")
    path = write_config(valid_text + "serve:\n  webhook_key_file: webhook.key\n")

    key = load_config(path).serve.webhook_key

    assert key is not None and key.file == str(tmp_path / "webhook.key")
    assert key.resolve() == "k" * 32


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("  interval_s: 5\n", "13:15: serve.interval_s: must be at least 60"),
        ("  debounce_s: -1\n", "13:15: serve.debounce_s: must be at least 0"),
        ("  auto_apply: yes please\n", "13:15: serve.auto_apply: must be true or false"),
        ("  webhook_key: hunter2-literal-secret\n", "13:16: serve.webhook_key: must be an environment variable"),
        ("  webhook_key: ${A}\n  webhook_key_file: a.key\n", "14:3: serve.webhook_key_file: give only one of"),
        ("  listen: 0.0.0.0\n", "13:3: serve.listen:"),
    ],
)
def test_serve_mistakes_are_located(write_config: WriteConfig, valid_text: str, section: str, expected: str) -> None:
    path = write_config(valid_text + "serve:\n" + section)

    issues = check_config(path)

    assert len(issues) == 1, issues
    assert str(issues[0]).removeprefix(f"{path}:").startswith(expected), str(issues[0])
    assert "hunter2" not in str(issues[0])
