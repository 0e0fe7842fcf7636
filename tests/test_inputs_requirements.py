"""requirements.txt reading: includes, options, hashes, paths and mistakes reported as file:line; a UTF-8 BOM
works; ``/dev/zero``, huge and binary includes are refused by name without being read; an invalid line is echoed
as a short excerpt only; ``-e`` of a folder that is no Python project is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk_native_python.core.errors import (
    InputError,
)
from cdk_native_python.inputs import choose, load
from cdk_native_python.inputs.requirements import read
from tests.helpers import build_later, build_request, cli_build, engine_build, fails, refused, says, write_function
from tests.inputhelpers import write
from tests.wheelfactory import WheelIndex

HASH = "sha256:" + "a" * 64


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
                                  f"six==1.16.0 --hash:sha256:{'a' * 64}", f"six==1.16.0 --hashsha256:{'a' * 64}",
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
    assert choose(tmp_path) == (tmp_path / "requirements.txt", ())
    explicit = write(tmp_path / "deps" / "prod.txt", "idna\n")
    spec = load(tmp_path, Path("deps/prod.txt"))
    assert spec is not None and spec.requirements == ("idna",) and spec.source == explicit


SECRET_VALUE = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_04_malformed_requirements_line(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "purepkg\n\nrequests>=>2\n")
    err = fails(InputError, build_later(build_request(entry), tmp_path))
    says(err, f"{entry / 'requirements.txt'}:3", "requests>=>2", hint="PEP 508")


def test_14_missing_include(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "-r base.txt\npurepkg\n")
    err = fails(InputError, build_later(build_request(entry), tmp_path))
    says(err, str(entry / "base.txt"), str(entry / "requirements.txt"), hint="fix the -r/-c path")


def test_15_include_loop(tmp_path: Path) -> None:
    entry = write_function(tmp_path, "-r a.txt\n", files={"a.txt": "-r b.txt\n", "b.txt": "purepkg\n-r a.txt\n"})
    err = fails(InputError, build_later(build_request(entry), tmp_path))
    text = says(err, "loop", "a.txt", "b.txt", hint="remove one of the -r")
    assert text.count("a.txt") >= 2  # the chain is shown, back to where it started


def test_utf8_bom_is_accepted(tmp_path: Path, wheel_index: WheelIndex) -> None:
    entry = write_function(tmp_path, files={"requirements.txt": "\ufeffpurepkg\n-r more.txt\n".encode(),
                          "more.txt": "\ufeff# shared\nsix\n".encode()})
    assert engine_build(tmp_path, entry, index=wheel_index).packages == {"purepkg": "1.0", "depa": "2.0",
                                                                         "six": "1.17.0"}
    proc = cli_build(tmp_path, entry, "--index-url", wheel_index.url)
    assert proc.returncode == 0, proc.stderr


def test_dev_zero_is_refused_by_name(tmp_path: Path) -> None:
    entry = write_function(tmp_path, files={"requirements.txt": "six\n-r /dev/zero\n"})
    err = refused(tmp_path, entry, "/dev/zero", f"{entry / 'requirements.txt'}", hint="regular file",
                  cli_memory_limit=2 << 30)
    assert err.code == "input-not-a-file"
    # given as the dependency file itself
    refused(tmp_path, entry, "/dev/zero", dependency_file=Path("/dev/zero"), hint="regular file",
            cli_memory_limit=2 << 30)


def test_include_of_a_huge_or_binary_file_is_refused(tmp_path: Path) -> None:
    entry = write_function(tmp_path)
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "requirements.txt").write_text("-r big.txt\n")
    (deps / "binary.txt").write_bytes(b"six\n\x00\x01\x02\xff" * 100)
    with open(deps / "big.txt", "wb") as f:
        f.truncate(3 << 30)
    refused(tmp_path, entry, str(deps / "big.txt"), code="input-too-large", cli_memory_limit=2 << 30,
            dependency_file=deps / "requirements.txt", hint="point it at the dependency file itself")
    (deps / "requirements.txt").write_text("-r binary.txt\n")
    refused(tmp_path, entry, str(deps / "binary.txt"), "binary", code="input-binary",
            dependency_file=deps / "requirements.txt", hint="point it at the text file holding the dependencies")
    (deps / "requirements.txt").write_text("-r latin1.txt\n")
    (deps / "latin1.txt").write_bytes("# caf\u00e9\nsix\n".encode("latin-1"))
    refused(tmp_path, entry, str(deps / "latin1.txt"), "not UTF-8", code="input-encoding",
            dependency_file=deps / "requirements.txt", hint="save it as UTF-8")


def test_an_invalid_line_is_echoed_as_an_excerpt_only(tmp_path: Path) -> None:
    credentials = f"aws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key={SECRET_VALUE}\n"
    entry = write_function(tmp_path, files={"requirements.txt": "six\n-r creds\n", "creds": credentials})
    err = refused(tmp_path, entry, f"{entry / 'creds'}:1", hint="PEP 508")
    assert "AKIAIOSFODNN7EXAMPLE" not in str(err)
    # the same with the secret first
    (entry / "creds").write_text(f"aws_secret_access_key={SECRET_VALUE}\n")
    err = refused(tmp_path, entry, f"{entry / 'creds'}:1", hint="PEP 508")
    assert SECRET_VALUE not in str(err) and SECRET_VALUE[:12] not in str(err)
    proc = cli_build(tmp_path, entry)
    assert SECRET_VALUE[:12] not in proc.stderr


@pytest.mark.parametrize("folder", ["/", "/etc", "empty"])
def test_editable_of_a_non_project_folder(tmp_path: Path, folder: str) -> None:
    entry = write_function(tmp_path)
    path = str(entry / "empty") if folder == "empty" else folder
    (entry / "empty").mkdir()
    (entry / "requirements.txt").write_text(f"six\n-e {path}\n")
    refused(tmp_path, entry, f"{entry / 'requirements.txt'}:2", path, "not a Python project",
            code="not-a-python-project", hint="pyproject.toml")
