"""requirements.txt reading: includes, options, hashes, paths and mistakes reported as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.errors import InputError
from cdk_native_python.inputs import detect, load
from cdk_native_python.inputs.requirements import read

HASH = "sha256:" + "a" * 64


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_includes_constraints_options_and_hashes(tmp_path: Path) -> None:
    write(tmp_path / "base" / "common.txt", "six==1.16.0 \\\n    --hash=" + HASH + "\n")
    write(tmp_path / "constraints.txt", "idna<4\n")
    req = write(tmp_path / "requirements.txt", "\n".join([
        "# comment",
        "-r base/common.txt",
        "-c constraints.txt",
        "--index-url https://user:secret@example.invalid/simple",
        "--extra-index-url https://extra.invalid/simple",
        "-f ./wheels",
        'requests[socks]>=2 ; python_version >= "3.9"  # trailing comment',
        "",
    ]))
    spec = read(req)
    assert spec.requirements == ("six==1.16.0 --hash=" + HASH, 'requests[socks]>=2; python_version >= "3.9"')
    assert spec.constraints == ("idna<4",)
    assert spec.indexes.index_url == "https://user:secret@example.invalid/simple"
    assert spec.indexes.extra_index_urls == ("https://extra.invalid/simple",)
    assert spec.indexes.find_links == (str(tmp_path / "wheels"),)
    assert "secret" not in str(spec.key())


def test_missing_include_names_the_including_file(tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "six\n-r nope.txt\n")
    with pytest.raises(InputError) as err:
        read(req)
    assert "nope.txt" in str(err.value) and "requirements.txt" in str(err.value)
    assert err.value.hint


def test_include_loop_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "-r b.txt\n")
    write(tmp_path / "b.txt", "-r a.txt\n")
    with pytest.raises(InputError, match="loop"):
        read(tmp_path / "a.txt")


@pytest.mark.parametrize("line", ["requests>=>2", "numpy==1.0 --hash=md5:abc", "--frobnicate x",
                                  "git+https://github.com/psf/requests", "pkg @ git+https://x/y.git"])
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str) -> None:
    req = write(tmp_path / "requirements.txt", f"six\n{line}\n")
    with pytest.raises(InputError) as err:
        read(req)
    assert f"{req}:2" in str(err.value)
    assert err.value.hint


def test_local_path_requirement_is_absolute_and_fingerprinted(tmp_path: Path) -> None:
    write(tmp_path / "libs" / "mylib" / "pyproject.toml", "[project]\nname='mylib'\nversion='1'\n")
    req = write(tmp_path / "fn" / "requirements.txt", "../libs/mylib\n")
    spec = read(req)
    assert spec.requirements == (str(tmp_path / "libs" / "mylib"),)
    before = spec.digest()
    write(tmp_path / "libs" / "mylib" / "mylib.py", "X = 1\n")
    assert read(req).digest() != before


def test_environment_variables_are_expanded_but_never_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "s3cr3t")
    req = write(tmp_path / "requirements.txt", "-i https://aws:${TOKEN}@example.invalid/simple\nsix\n")
    spec = read(req)
    assert spec.indexes.index_url == "https://aws:s3cr3t@example.invalid/simple"
    assert "s3cr3t" not in str(spec.key())
    monkeypatch.delenv("TOKEN")
    with pytest.raises(InputError, match="TOKEN"):
        read(req)


def test_detection_and_absence(tmp_path: Path) -> None:
    assert load(tmp_path) is None
    write(tmp_path / "requirements.txt", "six\n")
    assert detect(tmp_path) == tmp_path / "requirements.txt"
    explicit = write(tmp_path / "deps" / "prod.txt", "idna\n")
    spec = load(tmp_path, Path("deps/prod.txt"))
    assert spec is not None and spec.requirements == ("idna",) and spec.source == explicit
