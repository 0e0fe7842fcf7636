"""Prove that every native file in a bundle can load on the Lambda target.

Wheel tags are promises made by whoever built the wheel; a mislabeled wheel, a stray macOS build in a
find-links folder or a binary vendored into the handler's source breaks only at import time on Lambda.
So after install we read the files themselves, like ``auditwheel`` does, with a reader that looks at
headers only (a few reads per file, no parsing of code):

* the file is ELF (not Mach-O, not PE), 64-bit little-endian, for the target's machine;
* an extension module's filename tag is one the target interpreter imports
  (``cpython-312-aarch64-linux-gnu``, ``abi3`` or none) — never ``darwin``, another Python or arch;
* every glibc symbol version it needs (``.gnu.version_r``) exists in the runtime's glibc.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core._elffile import ELFCLASS64, ELFDATA2LSB, ELFError, ELFFile
from ..core.distributions import owners as owners_of
from ..core.errors import VerificationError
from ..core.hints import option
from ..core.records import VerificationResult, Violation
from ..core.source import is_excluded
from ..core.target import Target

#: the libraries glibc ships: their GLIBC_x.y version needs are what the runtime's glibc must provide
_GLIBC_LIBS = re.compile(r"^(libc|libm|libpthread|libdl|librt|libutil|libresolv|libanl|ld-linux[-\w.]*)\.so")
#: GLIBC_ABI_DT_RELR marks binaries using packed relocations, which glibc loads only from 2.36 on
_ABI_MARKERS = {"GLIBC_ABI_DT_RELR": (2, 36)}
#: files whose content we never inspect (text and Python sources are the bulk of any tree)
_TEXT_WORDS = (
    ".py .pyi .pyx .pxd .pxi .txt .md .rst .json .toml .cfg .ini .yaml .yml .html .htm .css .js .csv .pem .crt "
    ".typed .c .h .cpp .hpp .cc .in .jinja .j2 .tmpl .xml .svg .png .jpg .gif .ico .mo .po .sql .sh .bat .ps1 "
    ".zip .gz .tar .whl .npy .npz .parquet .pkl .dat .bin .tzdata .tab .zi .pyc"
)
_TEXT_SUFFIXES = frozenset(_TEXT_WORDS.split())
_NATIVE_NAME = re.compile(r"\.(so|dylib|dll|pyd|exe)(\.[\d.]+)?$")
#: CPython's extension filename tag: name.<tag>.so
_EXT_TAG = re.compile(r"^[^.]+\.(?P<tag>(cpython|cp|pypy)[^.]*|abi3)\.(so|pyd)$")


@dataclass(frozen=True)
class Finding:
    """One native file and what it is; ``problem`` is empty when it fits the target."""

    path: str
    kind: str  # "elf", "mach-o", "pe"
    machine: str = ""
    glibc: str = ""  # highest glibc version it needs, e.g. "2.28"
    problem: str = ""
    package: str = ""

    def describe(self) -> str:
        origin = f" (from {self.package})" if self.package else ""
        return f"{self.path}{origin}: {self.problem}"


@dataclass
class Report:
    """What verification found: every native file, and the violations among them."""

    checked: int = 0
    native: list[Finding] = field(default_factory=list)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.native if f.problem]

    def result(self) -> VerificationResult:
        """The record kept with a tree and in reports."""
        glibc = max((f.glibc for f in self.native if f.glibc), key=_version_key, default="")
        return VerificationResult(self.checked, len(self.native), glibc,
                                  tuple(Violation(f.path, f.package, f.problem) for f in self.violations))


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def glibc_needs(path: Path) -> tuple[list[str], str]:
    """GLIBC_* versions an ELF file needs from glibc's libraries, and its machine name."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        needs = [version for library, version in elf.version_needs()
                 if _GLIBC_LIBS.match(library) and version.startswith("GLIBC_")]
        return needs, elf.header.machine


def _glibc_required(needs: Iterable[str]) -> tuple[int, ...]:
    best: tuple[int, ...] = (0,)
    for need in needs:
        if need in _ABI_MARKERS:
            version: tuple[int, ...] = _ABI_MARKERS[need]
        else:
            m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)+)", need)
            if not m:
                continue  # GLIBC_PRIVATE and friends: not a version
            version = _version_key(m.group(1))
        best = max(best, version)
    return best


def _kind(head: bytes) -> str:
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "mach-o"
    # fat Mach-O shares its magic with Java class files; a fat header's arch count is small
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8 and struct.unpack_from(">I", head, 4)[0] < 40:
        return "mach-o"
    if head[:2] == b"MZ":
        return "pe"
    return ""


def check_file(path: Path, rel: str, target: Target) -> Finding | None:
    """Inspect one file; ``None`` when it is not native code."""
    named_native = bool(_NATIVE_NAME.search(rel))
    with open(path, "rb") as f:
        head = f.read(64)
    kind = _kind(head)
    if kind == "pe" and not rel.endswith((".dll", ".pyd")):
        kind = ""  # Windows launchers (setuptools' cli-64.exe, distlib's t64.exe) are never run on Linux
    if not kind:
        if named_native and rel.endswith((".dylib", ".dll", ".pyd")):
            return Finding(rel, "unknown", problem=f"a {rel.rsplit('.', 1)[1]} file, which Linux cannot load")
        return None
    wanted = target.machine
    if kind == "mach-o":
        return Finding(rel, kind, problem=f"a macOS (Mach-O) binary; {target} needs a Linux ELF for {wanted}")
    if kind == "pe":
        return Finding(rel, kind, problem=f"a Windows (PE) binary; {target} needs a Linux ELF for {wanted}")
    try:
        needs, machine = glibc_needs(path)
    except (OSError, ELFError, struct.error) as exc:
        return Finding(rel, kind, problem=f"an unreadable ELF file ({exc})")
    if head[4] != ELFCLASS64 or head[5] != ELFDATA2LSB:
        return Finding(rel, kind, machine, problem=f"a 32-bit or big-endian ELF ({machine}); {target} needs "
                       f"64-bit little-endian {wanted}")
    if machine != wanted:
        return Finding(rel, kind, machine, problem=f"an ELF for {machine}; {target} needs {wanted}")
    required = _glibc_required(needs)
    glibc = ".".join(map(str, required)) if required != (0,) else ""
    have = target.glibc
    if required > have:
        worst = sorted(n for n in needs if _glibc_required([n]) > have)
        return Finding(rel, kind, machine, glibc, problem=(
            f"needs glibc {glibc} ({', '.join(worst[-3:])}); {target.runtime} runs on {target.os_generation} "
            f"with glibc {have[0]}.{have[1]}"))
    tag = _EXT_TAG.match(os.path.basename(rel))
    own = target.extension_tag
    if tag and tag.group("tag") not in ("abi3", own):
        return Finding(rel, kind, machine, glibc, problem=(
            f"an extension module built for '{tag.group('tag')}'; {target.runtime} on {wanted} imports "
            f"'{own}' or 'abi3' modules only"))
    return Finding(rel, kind, machine, glibc)


def scan(root: Path, target: Target, files: Sequence[str] | None = None,
         exclude: Sequence[str] = ()) -> Report:
    """Check ``files`` (relative to ``root``; default: every file under it) for ``target``."""
    report = Report()
    if files is None:
        base = len(str(root)) + 1
        files = [f"{d[base:]}/{n}" if len(d) >= base else n for d, _, names in os.walk(root) for n in names]
    owners: dict[str, str] | None = None  # who installed each file: read once, only to name a culprit
    for rel in sorted(files):
        suffix = os.path.splitext(rel)[1].lower()
        if suffix in _TEXT_SUFFIXES or rel.endswith((".dist-info/RECORD", ".dist-info/METADATA")):
            continue
        path = root / rel
        if path.is_symlink() or not path.is_file() or (exclude and is_excluded(rel, exclude)):
            continue
        report.checked += 1
        finding = check_file(path, rel, target)
        if finding is None:
            continue
        if finding.problem:
            if owners is None:
                owners = owners_of(root)
            finding = Finding(finding.path, finding.kind, finding.machine, finding.glibc, finding.problem,
                              owners.get(rel, ""))
        report.native.append(finding)
    return report


def require_clean(report: Report, target: Target, what: str) -> None:
    """Raise :class:`VerificationError` listing every violation (the first ten in full)."""
    bad = report.violations
    if not bad:
        return
    lines = "\n    ".join(f.describe() for f in bad[:10])
    more = f"\n    ... and {len(bad) - 10} more" if len(bad) > 10 else ""
    packages = sorted({f.package.split(" ")[0] for f in bad if f.package})
    hint = (f"these files would fail to load on Lambda. The wheels of {', '.join(packages)} are mislabeled or were "
            "built for another platform: check your find-links folders / private index for wrong uploads, or pin a "
            "version whose manylinux wheel is correct" if packages else
            "these files are in your own source: remove them or replace them with Linux builds for the target")
    hint += f"; to accept a file that is never loaded, add it to {option('verify_exclude')}"
    raise VerificationError(f"{what} for {target}: {len(bad)} native file(s) cannot load there:\n    {lines}{more}",
                            hint, code="native-code-unfit")
