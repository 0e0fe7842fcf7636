"""Bundling options shared by the constructs and the CLI (CDK-free so the CLI can build the same request).

:class:`BundlingOptions` takes our options and every keyword of ``aws_lambda_python_alpha.BundlingOptions``
under the same names, so an app that switches its import line keeps its ``bundling=`` as it is. A field
left at ``None`` is *unset*: the team default from ``cdk.json`` applies (:func:`from_context`), else the
built-in default. :meth:`BundlingOptions.of` accepts our object, the alpha module's object (read without
importing that package) or a plain dict. Upstream options either work here or produce a one-line notice
saying why they have no effect without Docker (:meth:`BundlingOptions.notices`); none is a crash.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from ..core.errors import ConfigurationError
from ..core.reporter import Notice
from ..core.spec import IndexOptions
from ..core.target import Target
from ..store.signing import private_key_error
from .engine import BuildRequest
from .hooks import CommandHooks, Hooks
from .install import InstallOptions
from .slim import SlimOptions
from .strip import StripOptions

#: the prefix of team defaults in cdk.json's context (an object under this key, or ``<prefix>:<option>``)
CONTEXT_KEY = "cdk-native-python"

#: Docker settings of the alpha module that have no meaning on the host, and what to do instead
DOCKER_ONLY: dict[str, str] = {
    "image": "dependencies are resolved for the function's runtime and architecture instead of in an image",
    "command": "use command_hooks to run commands before or after bundling",
    "entrypoint": "use command_hooks to run commands before or after bundling",
    "platform": "the function's architecture decides the target platform",
    "network": "the resolver uses this machine's network (and HTTPS_PROXY) directly",
    "user": "bundling runs as the user running cdk synth",
    "security_opt": "there is no container to configure",
    "volumes": "bundling reads the entry folder and writes the asset on this machine directly",
    "volumes_from": "bundling reads the entry folder and writes the asset on this machine directly",
    "working_directory": "command hooks run in the asset folder",
    "bundling_file_access": "files are copied or hard-linked on this machine",
    "many_linux_tags": "wheel tags come from the runtime's glibc (manylinux_2_26 on Amazon Linux 2, 2_34 on AL2023)",
}
#: environment / build_args entries that are package sources (the rest go to the hook commands)
_INDEX_VARS = ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX")
_EXTRA_INDEX_VARS = ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX")
_FIND_LINKS_VARS = ("PIP_FIND_LINKS", "UV_FIND_LINKS")
_NO_INDEX_VARS = ("PIP_NO_INDEX", "UV_NO_INDEX")
_SOURCE_VARS = (*_INDEX_VARS, *_EXTRA_INDEX_VARS, *_FIND_LINKS_VARS, *_NO_INDEX_VARS)

Kind = Literal["str", "strs", "bool", "map", "any"]


@dataclass(frozen=True)
class Option:
    """What the documentation, validation and cdk.json know of one option (a field's ``metadata["option"]``)."""

    #: the type a dict, the alpha object or cdk.json must give (checked by ``_from_mapping``)
    kind: Kind
    #: one paragraph for the options table (Markdown)
    meaning: str
    #: the built-in default, as the table shows it
    default: str = "none"
    #: the command line's flags for it (``build``), as the table shows them ("" when it has none)
    flag: str = ""
    #: a repository can set it for every function in cdk.json's context
    team: bool = False
    #: ``ours``, ``alpha`` (an aws_lambda_python_alpha keyword with an effect here) or ``docker`` (no effect)
    origin: Literal["ours", "alpha", "docker"] = "ours"


def option(kind: Kind, meaning: str, default: str = "none", flag: str = "", *, team: bool = False,
           origin: Literal["ours", "alpha", "docker"] = "ours") -> Any:
    """A ``BundlingOptions`` field: unset (``None``) by default, described once, here."""
    return dataclasses.field(default=None, metadata={"option": Option(kind, meaning, default, flag, team, origin)})


def _docker(kind: Kind) -> Any:
    return option(kind, "", "", origin="docker")  # its meaning is DOCKER_ONLY's: why it has no effect


@dataclass(frozen=True)
class BundlingOptions:
    """How dependencies are found, resolved, installed and stripped (``None``: team default, else built-in).

    Our options first, then ``aws_lambda_python_alpha.BundlingOptions``' own keywords. Each field says once
    what it is (:class:`Option`): validation, the cdk.json list and ``docs/options.md`` are derived from it.
    """

    asset_excludes: Sequence[str] | None = option(
        "strs", "glob patterns left out of the source copy and its hash, besides what is always left out; a "
        "pattern matches a file or folder name anywhere, or the whole relative path (`data/*.bin`)",
        flag="`--exclude GLOB`", team=True)
    dependency_file: str | None = option(
        "str", "the dependency file, any supported format, relative to `entry` (e.g. `../../requirements/prod.txt` "
        "in a monorepo)", "detected in `entry`", "`-r FILE` (relative to the current directory)")
    groups: Sequence[str] | None = option(
        "strs", "dependency groups to include (poetry.lock, uv.lock, pyproject.toml, pylock.toml; "
        "`groups=[\"develop\"]` for Pipfile.lock)", flag="`--group NAME`")
    extras: Sequence[str] | None = option("strs", "project extras to include (pyproject-based formats)",
                                          flag="`--extra NAME`")
    resolve_pipfile: bool | None = option(
        "bool", "resolve a `Pipfile` that has no `Pipfile.lock` instead of failing", "`False`",
        "`--resolve-pipfile`", team=True)
    index_url: str | None = option("str", "primary index; wins over the dependency file's",
                                   "the dependency file's, else PyPI", "`--index-url URL`", team=True)
    extra_index_urls: Sequence[str] | None = option(
        "strs", "more indexes, added to the dependency file's", flag="`--extra-index-url URL`", team=True)
    find_links: Sequence[str] | None = option(
        "strs", "folders or pages of wheels, added to the dependency file's; relative paths are relative to "
        "`entry` (in cdk.json: to where `cdk` runs)", flag="`--find-links PATH_OR_URL`", team=True)
    no_index: bool | None = option("bool", "use find-links only", "`False`", "`--no-index`", team=True)
    allow_build: Sequence[str] | None = option(
        "strs", "packages allowed to build from an sdist on this machine (their build code runs; the result must "
        "be a pure-Python wheel)", flag="`--allow-build PKG`", team=True)
    keep_boto3: bool | None = option(
        "bool", "ship every runtime-provided package (boto3, botocore, s3transfer, jmespath, python-dateutil, "
        "urllib3) instead of leaving out those the runtime is guaranteed to serve", "`False`", "`--keep-boto3`",
        team=True)
    strip: Sequence[str] | None = option("strs", "more packages to remove, with what only they need",
                                         flag="`--strip PKG`", team=True)
    keep: Sequence[str] | None = option("strs", "packages never removed", flag="`--keep PKG`", team=True)
    slim: bool | None = option(
        "bool", "remove files Lambda never reads from dependencies (bytecode, test suites, Cython sources)",
        "`True`", "`--no-slim` (off)", team=True)
    slim_keep: Sequence[str] | None = option(
        "strs", "globs, relative to the dependency tree, that slimming never removes, e.g. `\"mypkg/tests/*\"`",
        team=True)
    compile_bytecode: bool | None = option(
        "bool", "precompile dependencies to hash-checked `.pyc` for the target Python (faster cold starts: "
        "`/var/task` is read-only, so Lambda cannot cache bytecode). Needs an interpreter of exactly that "
        "version on this machine (the current one, `python3.X` on `PATH`, or one `uv python find` sees); "
        "without one the build fails rather than ship bytecode of another version", "`False`", team=True)
    verify_exclude: Sequence[str] | None = option(
        "strs", "globs of native files the verification accepts as they are (a binary a package never loads on "
        "Linux)", flag="`--verify-exclude GLOB`", team=True)
    command_hooks: CommandHooks | None = option(
        "any", "an object with `before_bundling(input_dir, output_dir)` and `after_bundling(input_dir, "
        "output_dir)` returning shell commands, run on this machine (see the guide)")
    refresh: bool | None = option(
        "bool", "re-resolve floating requirements now", "`False`",
        "`--refresh`, or `CDK_NATIVE_PYTHON_REFRESH=1`")
    cache_dir: str | None = option(
        "str", "where the cache lives", "`$CDK_NATIVE_PYTHON_CACHE_DIR`, else the user cache directory",
        "`--cache-dir DIR`", team=True)
    remote_cache: str | None = option(
        "str", "a shared read tier, `s3://BUCKET[/PREFIX]`; writing is never turned on here",
        "`$CDK_NATIVE_PYTHON_REMOTE_CACHE`", "`--remote-cache URL`", team=True)
    remote_cache_trusted_keys: Sequence[str] | None = option(
        "strs", "public keys (`ed25519:<base64>`) whose signatures the remote cache's entries must carry; none: "
        "unsigned entries are accepted (see the remote cache page)", "`$CDK_NATIVE_PYTHON_REMOTE_CACHE_TRUSTED_KEYS`",
        "`--remote-cache-trusted-key KEY`", team=True)

    # -- aws_lambda_python_alpha.BundlingOptions' own keywords --------------------------------------------
    asset_hash: str | None = option(
        "str", "CDK's meaning: a custom hash (CDK hashes it again with the bundling configuration); with "
        "`asset_hash_type` other than `CUSTOM` it is an error, as in CDK", origin="alpha")
    asset_hash_type: Any = option(
        "any", "`SOURCE` or unset: our content hash (lock, target, options, source); `OUTPUT` (and the deprecated "
        "`BUNDLE`): CDK hashes the bundled output (bundling then runs at every synth; the output is reproducible, "
        "so the hash is stable); `CUSTOM`: needs `asset_hash`", origin="alpha")
    environment: Mapping[str, str] | None = option(
        "map", "package sources: `PIP_INDEX_URL`, `UV_INDEX_URL`, `UV_DEFAULT_INDEX` give the primary index "
        "(`index_url=` wins over them); `PIP_EXTRA_INDEX_URL`, `UV_EXTRA_INDEX_URL`, `UV_INDEX` (space-separated, "
        "`name=url` accepted) extra indexes and `PIP_FIND_LINKS`/`UV_FIND_LINKS` find-links, both added to the "
        "options' own; `PIP_NO_INDEX`/`UV_NO_INDEX` no-index. Every other entry is set in the environment of the "
        "hook commands; their names are part of the asset hash, their values never (they may be credentials). "
        "Without `command_hooks` they have no effect and an info notice says so", origin="alpha")
    build_args: Mapping[str, str] | None = option("map", "as `environment`, which wins over it", origin="alpha")
    output_path_suffix: str | None = option(
        "str", "layers: where the layer's source and dependencies go in its asset, e.g. "
        "`python/lib/python3.12/site-packages`; a path leaving the asset is an error. On a function it warns "
        "and is ignored (the handler must be at the asset's root)", "`python`", origin="alpha")
    poetry_include_hashes: bool | None = option(
        "bool", "accepted; an info notice says poetry.lock is read natively (hashes in the lock are always checked)",
        origin="alpha")
    poetry_without_urls: bool | None = option(
        "bool", "accepted; an info notice says poetry.lock is read natively (package URLs come from the lock)",
        origin="alpha")
    local: bool | None = option("bool", "accepted (newer upstream releases); bundling is always local",
                                origin="alpha")
    # Docker-only: accepted, each one warns once that it has no effect without Docker (DOCKER_ONLY says why)
    image: Any = _docker("any")  # the bundling image: here the host runs uv for the target
    command: Sequence[str] | None = _docker("strs")  # what runs in the container
    entrypoint: Sequence[str] | None = _docker("strs")
    platform: str | None = _docker("str")  # the image's platform: the target's architecture decides the wheels
    network: str | None = _docker("str")
    user: str | None = _docker("str")  # the container's user: bundling runs as you
    security_opt: str | None = _docker("str")
    volumes: Any = _docker("any")  # mounts: nothing is mounted, the host's own paths are read
    volumes_from: Sequence[str] | None = _docker("strs")
    working_directory: str | None = _docker("str")  # in the container: hooks run in the asset folder
    bundling_file_access: Any = _docker("any")
    many_linux_tags: Sequence[str] | None = _docker("strs")  # pip's platform tags: they come from the runtime here

    # -- what was given ------------------------------------------------------------------------------------

    def given(self) -> dict[str, Any]:
        """The options that are set (not ``None``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def merged_over(self, defaults: BundlingOptions) -> BundlingOptions:
        """These options, with ``defaults`` filling what is unset here (props override team defaults)."""
        return dataclasses.replace(defaults, **self.given())

    @classmethod
    def of(cls, value: Any) -> BundlingOptions:
        """Our options from ours, from ``aws_lambda_python_alpha.BundlingOptions`` or from a dict."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls._from_mapping(value, "bundling")
        values = getattr(value, "_values", None)  # a jsii struct, e.g. the alpha module's BundlingOptions
        if isinstance(values, Mapping) and type(value).__name__ == "BundlingOptions":
            return cls._from_mapping(values, f"bundling ({type(value).__module__}.BundlingOptions)")
        raise ConfigurationError(
            f"bundling must be BundlingOptions or a dict, not {type(value).__name__}",
            "pass cdk_native_python.BundlingOptions(...), aws_lambda_python_alpha.BundlingOptions(...) or a dict "
            "with the same keyword names", code="bundling-options-type")

    @classmethod
    def _from_mapping(cls, values: Mapping[str, Any], where: str) -> BundlingOptions:
        known = {f.name for f in fields(cls)}
        out: dict[str, Any] = {}
        for raw, value in values.items():
            name = _snake(str(raw))
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                raise ConfigurationError(
                    f"{where}: unknown option {str(raw)!r}",
                    f"did you mean {close[0]!r}?" if close else "see the options in docs/options.md",
                    code="bundling-option-unknown")
            if value is not None:
                out[name] = _checked(name, value, _KINDS.get(name, "any"), where)
        return cls(**out)

    # -- what it means -------------------------------------------------------------------------------------

    def notices(self, *, layer: bool) -> tuple[Notice, ...]:
        """One notice per upstream option that has no effect here, saying why."""
        found: list[Notice] = []
        for name, why in DOCKER_ONLY.items():
            if getattr(self, name) is not None:
                found.append(Notice("docker-option-ignored",
                                    f"bundling option {name} has no effect without Docker: {why}"))
        for name in ("poetry_include_hashes", "poetry_without_urls"):
            if getattr(self, name) is not None:
                found.append(Notice("poetry-option-native",
                                    f"bundling option {name} is accepted and not needed: poetry.lock is read "
                                    "natively (hashes in the lock are always checked, package URLs come from "
                                    "the lock)", "info"))
        if self.output_path_suffix is not None and not layer:
            found.append(Notice("output-path-suffix-ignored",
                                "bundling option output_path_suffix applies to layers only: a function's "
                                "handler must be at the root of its asset"))
        rest = self._hook_environment()
        if rest and self.command_hooks is None:
            found.append(Notice("environment-unused",
                                f"environment {', '.join(sorted(rest))} has no effect: only package sources "
                                f"({', '.join(_SOURCE_VARS[:2])}, ...) and command_hooks use the environment",
                                "info"))
        return tuple(found)

    def _variables(self) -> dict[str, str]:
        return {**(self.build_args or {}), **(self.environment or {})}

    def _hook_environment(self) -> dict[str, str]:
        return {k: v for k, v in self._variables().items() if k not in _SOURCE_VARS}

    def indexes(self, entry: Path) -> IndexOptions:
        """Package sources: the options, then environment / build_args (PIP_INDEX_URL, UV_INDEX, ...)."""
        env = self._variables()
        index_url = self.index_url or next((env[v] for v in _INDEX_VARS if env.get(v)), None)
        extra = [*(self.extra_index_urls or ())]
        for var in _EXTRA_INDEX_VARS:  # space-separated lists; uv's UV_INDEX entries may be name=url
            extra += [u.split("=", 1)[1] if "=" in u.split("://", 1)[0] else u for u in env.get(var, "").split()]
        links = [*(self.find_links or ())]
        for var in _FIND_LINKS_VARS:
            links += [u for u in re.split(r"[\s,]+", env.get(var, "")) if u]
        no_index = bool(self.no_index) or any(env.get(v, "").lower() in ("1", "true", "yes", "on")
                                              for v in _NO_INDEX_VARS)
        return IndexOptions(
            index_url=index_url,
            extra_index_urls=tuple(dict.fromkeys(extra)),
            find_links=tuple(str((entry / f).resolve()) if "://" not in f else f for f in dict.fromkeys(links)),
            no_index=no_index,
        )

    def hooks(self) -> CommandHooks | None:
        if self.command_hooks is None:
            return None
        rest = self._hook_environment()
        return Hooks(self.command_hooks, tuple(sorted(rest.items()))) if rest else self.command_hooks

    def request(self, entry: Path, target: Target, *, layer: bool = False, name: str = "function",
                provided: tuple[tuple[str, str, str], ...] = (), layer_bytes: int = 0) -> BuildRequest:
        """The engine's request. ``provided`` (name, version, layer) are left out of the bundle because the
        function's layers hold them; ``layer_bytes`` (the layers' unzipped size) counts against the budget."""
        suffix = _suffix(self.output_path_suffix) if layer and self.output_path_suffix is not None else None
        return BuildRequest(
            entry=entry,
            target=target,
            dependency_file=Path(self.dependency_file) if self.dependency_file else None,
            groups=tuple(self.groups or ()),
            extras=tuple(self.extras or ()),
            indexes=self.indexes(entry),
            allow_build=tuple(self.allow_build or ()),
            install=InstallOptions(
                strip=StripOptions(keep_boto3=bool(self.keep_boto3), strip=tuple(self.strip or ()),
                                   keep=tuple(self.keep or ()), provided=tuple(provided)),
                slim=SlimOptions(enabled=self.slim is not False, keep=tuple(self.slim_keep or ()),
                                 compile_bytecode=bool(self.compile_bytecode)),
                verify_exclude=tuple(self.verify_exclude or ()),
            ),
            excludes=tuple(self.asset_excludes or ()),
            hooks=self.hooks(),
            layer=layer,
            refresh=bool(self.refresh),
            resolve_pipfile=bool(self.resolve_pipfile),
            name=name,
            layer_bytes=layer_bytes,
            output_path_suffix=suffix,
        )

    def asset_hash_mode(self) -> tuple[Literal["content", "output", "custom"], str | None]:
        """How CDK should hash the asset: ours (content: lock, options, source), the output, or custom.

        Upstream's default (SOURCE) hashes the entry folder; our content hash covers it and the resolved
        dependencies too, so SOURCE maps to it.
        """
        kind = str(getattr(self.asset_hash_type, "value", self.asset_hash_type) or "").lower()
        kind = kind.rsplit(".", 1)[-1]
        if self.asset_hash is not None:
            if kind not in ("", "custom"):
                raise ConfigurationError(
                    f"asset_hash is set, but asset_hash_type is {kind.upper()}",
                    "use asset_hash_type=AssetHashType.CUSTOM with asset_hash, or leave it unset",
                    code="asset-hash-type")
            return "custom", self.asset_hash
        if kind == "custom":
            raise ConfigurationError("asset_hash_type is CUSTOM but asset_hash is not set",
                                     "set asset_hash='...' too, or leave asset_hash_type unset",
                                     code="asset-hash-type")
        if kind in ("output", "bundle"):
            return "output", None
        if kind in ("", "source"):
            return "content", None
        raise ConfigurationError(f"asset_hash_type {kind!r} is not a CDK AssetHashType",
                                 "use AssetHashType.SOURCE, OUTPUT or CUSTOM", code="asset-hash-type")


def _suffix(value: str) -> str:
    parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts:
        raise ConfigurationError(f"output_path_suffix {value!r} leaves the asset folder",
                                 "use a relative folder such as 'python' or 'python/lib/python3.12/site-packages'",
                                 code="output-path-suffix")
    return "/".join(parts)


# -- option types ---------------------------------------------------------------------------------------

def options() -> tuple[tuple[str, Option], ...]:
    """Every option with what it says of itself, in the dataclass's order."""
    return tuple((f.name, f.metadata["option"]) for f in fields(BundlingOptions))


_KINDS: dict[str, Kind] = {name: spec.kind for name, spec in options()}
_CHECKS: dict[Kind, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "strs": (lambda v: isinstance(v, Sequence) and not isinstance(v, str) and all(isinstance(i, str) for i in v),
             "a list of strings"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "map": (lambda v: isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(i, str)
                                                     for k, i in v.items()), "a mapping of strings to strings"),
    "any": (lambda v: True, ""),
}


def _checked(name: str, value: Any, kind: Kind, where: str) -> Any:
    ok, what = _CHECKS[kind]
    if not ok(value):
        raise ConfigurationError(f"{where}: {name} must be {what}, not {type(value).__name__}",
                                 f"write it as {what}, e.g. {_EXAMPLES[kind]}", code="bundling-option-type")
    return tuple(value) if kind == "strs" else dict(value) if kind == "map" else value


_EXAMPLES: dict[Kind, str] = {"str": '"value"', "strs": '["a", "b"]', "bool": "true", "map": '{"KEY": "value"}',
                              "any": ""}


def _snake(name: str) -> str:
    """``assetExcludes`` (as jsii and JSON spell it) -> ``asset_excludes``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().replace("-", "_")


# -- team defaults from cdk.json -----------------------------------------------------------------------

#: options a whole repository can share through cdk.json's context (per-function ones are not among them)
CONTEXT_OPTIONS: tuple[str, ...] = tuple(name for name, spec in options() if spec.team)
#: what a private key looks like as an option's name or value: never in cdk.json, which is committed
_PRIVATE_NAME = re.compile(r"private|signing_?key|secret", re.IGNORECASE)
_PRIVATE_VALUE = "PRIVATE KEY"


def from_context(whole: Any, flat: Mapping[str, Any]) -> BundlingOptions:
    """Team defaults: the ``"cdk-native-python"`` object of cdk.json's context, then the
    ``"cdk-native-python:<option>"`` keys (which win, and may be strings from ``cdk synth -c``).

    Relative ``find_links`` and ``cache_dir`` are relative to where cdk runs (the folder of cdk.json).
    """
    values: dict[str, Any] = {}
    if whole is not None:
        if isinstance(whole, str):
            whole = _json(whole, CONTEXT_KEY)
        if not isinstance(whole, Mapping):
            raise ConfigurationError(f"cdk.json context {CONTEXT_KEY!r} must be an object of options",
                                     f'e.g. "{CONTEXT_KEY}": {{"index_url": "https://..."}}', code="context-invalid")
        values.update({str(k): v for k, v in whole.items()})
    where = f"cdk.json context {CONTEXT_KEY!r}"
    _no_private_key(values, flat, where)
    unknown = sorted({*(k for k in values if _snake(k) not in CONTEXT_OPTIONS),
                      *(f"{CONTEXT_KEY}:{k}" for k in flat if _snake(k) not in CONTEXT_OPTIONS)})
    if unknown:
        raise ConfigurationError(
            f"{where}: {unknown[0]!r} is not an option a repository can set for every function",
            f"use one of {', '.join(CONTEXT_OPTIONS)}; set per-function options in bundling=",
            code="context-invalid")
    for option, value in flat.items():
        if value is not None:
            values[option] = _from_text(value, _KINDS.get(_snake(option), "any"), f"{CONTEXT_KEY}:{option}")
    options = BundlingOptions._from_mapping(values, where)
    links = tuple(f if "://" in f else str(Path(f).absolute()) for f in options.find_links or ())
    cache = str(Path(options.cache_dir).absolute()) if options.cache_dir else None
    return dataclasses.replace(options, find_links=links or options.find_links, cache_dir=cache)


def _no_private_key(values: Mapping[str, Any], flat: Mapping[str, Any], where: str) -> None:
    """A signing key in cdk.json is an error naming it (before the unknown-option error, which would echo it)."""
    named = [*((f"{where}: {k!r}", k, v) for k, v in values.items()),
             *((f"cdk.json context '{CONTEXT_KEY}:{k}'", k, v) for k, v in flat.items())]
    for label, name, value in named:
        if _PRIVATE_NAME.search(str(name)) or _PRIVATE_VALUE in json.dumps(value, default=str):
            raise private_key_error(label)


def _from_text(value: Any, kind: Kind, where: str) -> Any:
    """A ``-c key=value`` string as the option's type: JSON, or ``true``/``false``, or a comma list."""
    if not isinstance(value, str) or kind == "str":
        return value
    if kind == "bool" and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if kind == "strs" and not value.lstrip().startswith("["):
        return [v.strip() for v in value.split(",") if v.strip()]
    return _json(value, where)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigurationError(f"cdk.json context {where!r} is not valid JSON", "write it as JSON",
                                 code="context-invalid") from None
