"""The corpus of broken configs: each file holds one mistake and says, in its first line,
where it must be reported and how (``# expect: LINE:COL: PATH: MESSAGE-START``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.loader import check_config, load_config
from reconciler.errors import ConfigError

BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: LINE:COL: ...'"
    return first.removeprefix("# expect: ")


def test_the_corpus_covers_many_mistakes() -> None:
    assert len(BAD) >= 30


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_each_mistake_is_reported_once_where_it_is(path: Path) -> None:
    issues = check_config(path)

    assert len(issues) == 1, "\n".join(str(i) for i in issues)
    assert issues[0].file == str(path)
    assert str(issues[0]).removeprefix(f"{path}:").startswith(_expectation(path))


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_loading_a_broken_config_raises_its_issues(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.issues == check_config(path)
    assert str(caught.value) == str(caught.value.issues[0])
