"""The handler's source folder, walked once: what the asset holds, what its hash covers, what the user is told.

:func:`snapshot` walks the entry with ``stat`` only (nothing is opened before it is known to be a regular
file, so a named pipe cannot hang a synth and ``/dev/zero`` cannot be read forever), checks the total size
against Lambda's limit before reading a byte, then reads each file once for the digest. The result is a
frozen :class:`SourceTree`. :meth:`SourceTree.copy_to` copies exactly its files and checks that each
still has the content that was hashed, so the asset CDK stores under a hash always holds what the hash
says: the hash and the copy cannot disagree.

What the walk does with each kind of entry (docs/source.md):

* folder links are followed and their files copied and fingerprinted, like ``Code.from_asset`` (the
  monorepo's ``common -> ../../common``); a link that leads outside the entry is copied with a warning
  naming it and where it leads (``source-link-outside``): no file from outside arrives unannounced (links
  within a folder that was announced so, to places within it, are not announced again);
* a link that leads to a folder containing it, or to itself, is refused (``source-link-loop``);
* a dangling link is left out with a warning (``source-link-dangling``): editors leave such links
  (Emacs' ``.#file`` locks), and nothing could be copied from it anyway;
* named pipes, sockets and devices are refused (``source-fifo``, ``source-socket``, ``source-device``);
* a name that is not UTF-8 is refused (``source-name-encoding``): Node.js (CDK's asset staging and
  ``cdk deploy``'s zipper) reads such a name as U+FFFD and then cannot open it, and zip names are UTF-8;
* files that look like secrets are copied with a warning saying how to leave them out (``source-secret``);
* what can never be wanted at run time and is rebuilt (:data:`DEFAULT_EXCLUDES`, and any folder holding a
  virtualenv's ``pyvenv.cfg``) is left out, every such folder named in one info notice (``source-excluded``);
  everything else is copied, as the alpha module copies it (``tests``, ``node_modules``, data folders).

The digest length-prefixes every name and content (and includes the executable bit), so two different
folders never give the same digest, and it holds only paths relative to the entry: the same source checked
out anywhere gives the same digest.
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .budget import LIMIT_BYTES, mb
from .errors import InputError, VerificationError
from .hints import option
from .reporter import Notice

#: left out of every asset: what can never be wanted at run time and is rebuilt by the tool that made it
#: (bytecode for this machine's Python, VCS metadata, CDK's output, the caches of test and lint tools, Finder's
#: metadata). Everything else is copied, as the alpha module copies it (``tests``, ``node_modules``, data
#: folders); a virtualenv is left out by what it holds (:data:`VENV_MARKER`), not by its name.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    "__pycache__", "*.pyc", ".git", "cdk.out", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox",
    ".hypothesis", ".pytype", ".pyre", ".DS_Store",
)
#: the file every virtualenv holds (PEP 405): a folder holding it is an environment built on this machine (its
#: ``python`` is a link to this machine's interpreter), never something Lambda can run
VENV_MARKER = "pyvenv.cfg"


def is_excluded(rel: str, patterns: Sequence[str]) -> bool:
    """gitignore-like: a pattern matches a path component, or the whole relative path."""
    matches = _matcher(tuple(patterns))
    return matches is not None and (matches(rel) is not None or any(matches(part) for part in rel.split("/")))


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None] | None:
    """All patterns as one compiled regex (what ``fnmatch`` does one pattern at a time): the source walk asks
    once per file on every synth, and 12 ``fnmatch`` calls per path part were most of its time."""
    if not patterns:
        return None
    joined = "|".join(f"(?:{fnmatch.translate(os.path.normcase(p.strip('/')))})" for p in patterns)
    return re.compile(joined).match


_DEFAULT = _matcher(DEFAULT_EXCLUDES)

#: the digest's format; bumping it changes every asset hash (once)
_DIGEST_VERSION = b"cdk-native-python source digest 2\n"
_CHUNK = 1 << 20

#: (glob on a file or folder name, what it is) for files that look like credentials; checked on every part
#: of the path in the entry and, for a link, of where it leads (``conf -> ~/.aws/credentials``)
SECRET_NAMES: tuple[tuple[str, str], ...] = (
    (".env*", "an environment file"), ("*.pem", "a PEM key or certificate"),
    ("*.key", "a private key"), ("id_rsa*", "an SSH key"), ("id_dsa*", "an SSH key"), ("id_ecdsa*", "an SSH key"),
    ("id_ed25519*", "an SSH key"), (".netrc", "a credentials file"), (".pypirc", "a credentials file"),
    (".git-credentials", "a credentials file"), (".npmrc", "npm credentials"),
    (".pgpass", "PostgreSQL passwords"), (".my.cnf", "MySQL credentials"), (".s3cfg", "s3cmd credentials"),
    (".boto", "boto credentials"), ("*.p12", "a PKCS #12 key store"), ("*.pfx", "a PKCS #12 key store"),
    ("*.jks", "a Java key store"), ("*.ppk", "a PuTTY private key"),
    ("service-account*.json", "a cloud service account key"),
    ("terraform.tfstate*", "Terraform state (it holds secrets in plain text)"), (".htpasswd", "web server passwords"),
)
#: (folder/file, what it is): a credentials file known by its name in its folder (``config`` alone is no secret)
SECRET_PATHS: tuple[tuple[str, str], ...] = (
    (".docker/config.json", "Docker registry credentials"), (".kube/config", "Kubernetes credentials"),
)
SECRET_FOLDERS: tuple[tuple[str, str], ...] = (
    (".aws", "AWS credentials"), (".ssh", "SSH keys"), (".gnupg", "GnuPG keys"),
)


@dataclass(frozen=True)
class SourceFile:
    """One regular file of the asset."""

    #: posix path relative to the entry: where the asset holds it
    rel: str
    #: where it is read from (through any links on the way)
    path: str
    size: int
    #: permission bits, copied to the asset
    mode: int
    #: sha256 of the content, as read for the digest
    sha256: str

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)


@dataclass(frozen=True)
class SourceTree:
    """The files of an entry folder, what to tell the user about them, and their digest."""

    root: Path
    files: tuple[SourceFile, ...]
    notices: tuple[Notice, ...]
    digest: str

    @property
    def paths(self) -> list[str]:
        return [f.rel for f in self.files]

    def copy_to(self, dest: Path) -> list[str]:
        """Copy every file into ``dest`` (over what is there: the handler's file wins over a dependency's, and
        is never written through a link); returns the relative paths. A file whose content changed since it
        was hashed fails the copy: the asset would not match its hash."""
        made: set[Path] = set()
        for f in self.files:
            dst = dest / f.rel
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            if os.path.lexists(dst):
                dst.unlink()
            with open(dst, "wb") as out:
                content, _ = _read(f.path, f.rel, out.write)
            if content.hex() != f.sha256:
                raise InputError(
                    f"source file {_shown(f.path)} changed while it was being bundled", "run the build again once it "
                    "is no longer being written (the asset must hold what its hash was computed from)",
                    code="source-changed")
            os.chmod(dst, f.mode)
        return self.paths


@dataclass
class _Walk:
    """The walk's state: what it found so far."""

    excludes: Sequence[str]
    #: leave out :data:`DEFAULT_EXCLUDES` and virtualenvs too (what was left out is named in ``left_out``)
    defaults: bool
    #: refuse names that are not UTF-8 (assets); a fingerprint takes them by their bytes
    utf8_names: bool
    files: list[tuple[str, str, os.stat_result]]
    notices: list[Notice]
    #: the entry's real path: a link leading outside it is announced
    real_root: str
    #: the folders the defaults left out, as (relative path, why), in walk order
    left_out: list[tuple[str, str]]

    def refuse(self, path: str, rel: str, what: str, code: str, fix: str = "remove it") -> InputError:
        return InputError(f"{_shown(path)} {what}", f"{fix}, or leave it out of the asset with "
                          f"{_exclude_hint(rel)}", code=code)

    def walk(self, directory: str, rel_dir: str, ancestors: tuple[tuple[int, int], ...], region: str) -> None:
        """Visit the entries of ``directory``; ``ancestors`` are the (device, inode) of the folders above it
        (a link to one of them is a loop), ``region`` the real folder being walked (the entry, or an outside
        folder a link led to: links within it are not news)."""
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise _unreadable(directory, rel_dir.rstrip("/") or ".", exc) from None
        defaults = _DEFAULT if self.defaults else None
        if defaults and rel_dir and any(e.name == VENV_MARKER and _is_file(e) for e in entries):
            self.left_out.append((rel_dir.rstrip("/"), f"a virtualenv: it holds {VENV_MARKER}"))
            return
        for entry in entries:
            rel = rel_dir + entry.name
            if self.excludes and is_excluded(rel, self.excludes):
                continue
            if defaults and defaults(entry.name):  # the defaults are names: the folders above were let through
                if _is_dir(entry):
                    self.left_out.append((rel, ""))
                continue
            if self.utf8_names and not _is_utf8(rel):
                raise self.refuse(entry.path, rel, "has a name that is not valid UTF-8: Node.js (CDK's asset "
                                  "tools) and zip files cannot carry it", "source-name-encoding",
                                  "rename it to a UTF-8 name")
            self.visit(entry, rel, ancestors, region)

    def visit(self, entry: os.DirEntry[str], rel: str, ancestors: tuple[tuple[int, int], ...], region: str) -> None:
        link = False
        try:
            link = entry.is_symlink()
            st = os.stat(entry.path) if link else entry.stat(follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOENT and link:
                self.notices.append(Notice("source-link-dangling", f"source link {rel} -> {_readlink(entry.path)} "
                                           "leads nowhere (its target does not exist): left out of the asset"))
                return
            if exc.errno == errno.ELOOP:
                raise self.refuse(entry.path, rel, "is a symbolic link loop (it leads back to itself)",
                                  "source-link-loop", "point the link at a real file or folder") from None
            raise _unreadable(entry.path, rel, exc) from None
        if link:
            region = self.link(entry.path, rel, st, region)
        if stat.S_ISDIR(st.st_mode):
            here = (st.st_dev, st.st_ino)
            if here in ancestors:
                raise self.refuse(entry.path, rel, f"is a link to {os.path.realpath(entry.path)}, a folder that "
                                  "contains it: following it would never end", "source-link-loop",
                                  "point the link at a folder outside its own tree")
            self.walk(entry.path, rel + "/", (*ancestors, here), region)
        elif stat.S_ISREG(st.st_mode):
            self.files.append((rel, entry.path, st))
            self.secret(rel, entry.path if link else None)
        else:
            kind, code = _special(st.st_mode)
            target = f" (a link to {os.path.realpath(entry.path)})" if link else ""
            raise self.refuse(entry.path, rel, f"is {kind}{target}: only regular files and folders can be "
                              "bundled, and reading it could block or never end", code)

    def link(self, path: str, rel: str, st: os.stat_result, region: str) -> str:
        """Announce a link that leads outside the entry, unless it stays within the outside folder being walked
        (announced by the link that led there); returns the region its folder is walked as."""
        real = os.path.realpath(path)
        if _within(real, region):
            return region
        if _within(real, self.real_root):
            return self.real_root
        folder = stat.S_ISDIR(st.st_mode)
        copied = "its files are copied" if folder else "the file is copied"
        self.notices.append(Notice("source-link-outside", f"source link {rel} leads outside the entry, to {real}: "
                                   f"{copied} into the asset ({_exclude_hint(rel)} leaves {'them' if folder else 'it'} "
                                   "out)"))
        return real

    def secret(self, rel: str, link: str | None) -> None:
        why = _looks_secret(rel) or (_looks_secret(os.path.realpath(link)) if link else None)
        if why is None:
            return
        via = f" (a link to {os.path.realpath(link)})" if link else ""
        part = _secret_part(rel) or rel
        self.notices.append(Notice("source-secret", f"source file {rel}{via} looks like {why} and is copied into "
                                   f"the asset: if it should not ship, leave it out with {_exclude_hint(part)}"))


def snapshot(root: Path, excludes: Sequence[str] = (), *, defaults: bool = True, limit: int | None = LIMIT_BYTES,
             utf8_names: bool = True) -> SourceTree:
    """Walk ``root`` (minus ``excludes``, globs as :func:`is_excluded` reads them, and with ``defaults`` minus
    :data:`DEFAULT_EXCLUDES` and virtualenvs, named in one ``source-excluded`` notice) and read its files once
    for the digest; ``limit`` (bytes) is checked before anything is read."""
    root = Path(root).absolute()
    try:
        top = os.stat(root)
    except OSError as exc:
        raise _unreadable(str(root), ".", exc) from None
    real_root = os.path.realpath(root)
    walk = _Walk(excludes, defaults, utf8_names, [], [], real_root, [])
    walk.walk(str(root), "", ((top.st_dev, top.st_ino),), real_root)
    if walk.left_out:
        walk.notices.append(_left_out_notice(walk.left_out))
    if limit is not None:
        _check_size(root, walk.files, limit)
    h = hashlib.sha256(_DIGEST_VERSION)
    files = []
    for rel, path, st in walk.files:
        size = st.st_size
        content = _content_digest(path, rel, size)
        name = os.fsencode(rel)
        mode = stat.S_IMODE(st.st_mode)
        h.update(len(name).to_bytes(8, "big") + name + (b"x" if mode & 0o111 else b"-")
                 + size.to_bytes(8, "big") + content)
        files.append(SourceFile(rel, path, size, mode, content.hex()))
    return SourceTree(root, tuple(files), tuple(walk.notices), h.hexdigest())


def tree_digest(root: Path, *, defaults: bool = True) -> str:
    """The digest of a folder that is fingerprinted but not copied as it is (a local path dependency): no
    size limit (the build decides what ships), names of any encoding taken by their bytes. A change
    anywhere (but in what ``defaults`` leave out) changes it; two different folders never share it."""
    return snapshot(root, defaults=defaults, limit=None, utf8_names=False).digest


def _left_out_notice(left_out: Sequence[tuple[str, str]]) -> Notice:
    """One info notice naming every folder the defaults left out, and why nothing can bring them back."""
    named = ", ".join(f"{_shown(rel)}/" + (f" ({why})" if why else "") for rel, why in left_out)
    return Notice("source-excluded", f"left out of the asset (rebuilt by their tools, never run in Lambda): "
                  f"{named}. Folders so named are never copied: rename a folder of data to ship it; a virtualenv's "
                  "packages ship from your dependency file", "info")


# -- reading ---------------------------------------------------------------------------------------------------


def _read(path: str, rel: str, sink: Callable[[bytes], object] | None = None) -> tuple[bytes, int]:
    """(sha256, length) of the content of the regular file ``path``, each chunk also given to ``sink``.

    ``O_NONBLOCK`` makes opening a named pipe that replaced the file since the walk return at once instead of
    waiting for a writer; ``fstat`` then refuses it before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _unreadable(path, rel, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind, code = _special(mode)
            raise InputError(f"{_shown(path)} became {kind} while it was being bundled",
                             "only regular files and folders can be bundled: remove it", code=code)
        h = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
            size += len(chunk)
            if sink is not None:
                sink(chunk)
    finally:
        os.close(fd)
    return h.digest(), size


def _content_digest(path: str, rel: str, size: int) -> bytes:
    """sha256 of the content; its length must still be what the walk saw (it is in the digest)."""
    content, read = _read(path, rel)
    if read != size:
        raise InputError(f"source file {_shown(path)} changed while it was being read ({size} bytes, then {read})",
                         "run the build again once it is no longer being written", code="source-changed")
    return content


def _check_size(root: Path, files: Sequence[tuple[str, str, os.stat_result]], limit: int) -> None:
    """Over Lambda's limit from the sizes alone: fail before reading (a 3 GiB sparse file costs a stat)."""
    total = sum(st.st_size for _, _, st in files)
    if total <= limit:
        return
    largest = sorted(files, key=lambda f: -f[2].st_size)[:5]
    lines = "\n    ".join(f"{_shown(rel):<40} {mb(st.st_size):>10}" for rel, _, st in largest)
    raise VerificationError(
        f"the source folder {root} holds {mb(total)}, over Lambda's {mb(limit)} limit for code plus layers "
        f"before any dependency. Largest files:\n    {lines}",
        f"leave large files out of the asset ({_exclude_hint(largest[0][0])}) and load them at run time, "
        "e.g. from S3, or package the function as a container image (10 GB limit)",
        code="source-too-large")


# -- naming ----------------------------------------------------------------------------------------------------


def _shown(path: str) -> str:
    """A path for a message: as it is when it is UTF-8, else the repr of its bytes."""
    return path if _is_utf8(path) else repr(os.fsencode(path))


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode's surrogate escapes: bytes that are not UTF-8
        return False
    return True


def _exclude_hint(rel: str) -> str:
    return option("asset_excludes", [_shown(rel)])


def _readlink(path: str) -> str:
    try:
        return _shown(os.readlink(path))
    except OSError:
        return "?"


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # through a link: a link to a folder is left out as the folder would be
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _special(mode: int) -> tuple[str, str]:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)", "source-fifo"
    if stat.S_ISSOCK(mode):
        return "a socket", "source-socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device", "source-device"
    return "not a regular file", "source-special-file"


def _unreadable(path: str, rel: str, exc: OSError) -> InputError:
    fix = ("make it readable" if exc.errno in (errno.EACCES, errno.EPERM) else "check it")
    return InputError(f"cannot read the source path {_shown(path)}: {exc.strerror or exc}",
                      f"{fix}, or leave it out of the asset with {_exclude_hint(rel)}", code="source-unreadable")


_SECRET_NAME = re.compile("|".join(f"({fnmatch.translate(p)})" for p, _ in SECRET_NAMES))
_SECRET_FOLDER = {name: why for name, why in SECRET_FOLDERS}
_SECRET_PATH = {path: why for path, why in SECRET_PATHS}


def _looks_secret(path: str) -> str | None:
    """What a path looks like it holds, when its name or one of its folders looks like credentials."""
    parts = path.replace(os.sep, "/").split("/")
    m = _SECRET_NAME.match(parts[-1])
    if m is not None:
        pattern, why = SECRET_NAMES[(m.lastindex or 1) - 1]
        return f"{why} ({pattern})"
    last_two = "/".join(parts[-2:])
    if last_two in _SECRET_PATH:
        return f"{_SECRET_PATH[last_two]} ({last_two})"
    for part in parts[:-1]:
        if part in _SECRET_FOLDER:
            return f"{_SECRET_FOLDER[part]} (in {part}/)"
    return None


def _secret_part(rel: str) -> str | None:
    """The part of ``rel`` to exclude: the secret folder when the file is in one, else the file."""
    parts = rel.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in _SECRET_FOLDER:
            return "/".join(parts[: i + 1])
    return None
