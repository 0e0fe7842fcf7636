"""The registry of every error and notice code: its level, the error class that carries it, one line of meaning.

A code is the stable name scripts match on (``BundlingError.code``, a report's ``notices[].code``, a CDK
annotation's id ``cdk-native-python:<code>``). Raise and report sites write the code as a string literal;
``tests/test_codes.py`` reads the package's source and fails when a site uses a code this table does not
hold, when an error's class is not the one registered, when a registered code is never used, or when two
codes say the same thing. ``docs/codes.md`` is generated from this table (``scripts/gen-docs``).

Adding a code: a line here (an error names its class in ``errors.py``; its exit code follows from the class),
then the raise or report site. Nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CODES", "Code", "Level"]

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Code:
    """One code: its name, how it is said (an error, a warning, an info notice) and what it means."""

    name: str
    #: ``error``: a ``BundlingError`` of class ``error_class``; else the level(s) of the notice
    levels: tuple[Level, ...]
    #: one line: the situation the code names (what the user did or met, not how it is fixed)
    meaning: str
    #: the ``errors.py`` class an error is raised as (a subclass is accepted); ``None`` for notices
    error_class: str | None = None


def _error(name: str, error_class: str, meaning: str) -> Code:
    return Code(name, ("error",), meaning, error_class)


def _warning(name: str, meaning: str) -> Code:
    return Code(name, ("warning",), meaning)


def _info(name: str, meaning: str) -> Code:
    return Code(name, ("info",), meaning)


_C, _I, _R, _N = "ConfigurationError", "InputError", "ResolutionError", "IndexUnreachableError"

_TABLE: tuple[Code, ...] = (
    # -- configuration: props, options, flags, cdk.json, the environment (exit 2) --------------------------
    _error("invalid-configuration", _C, "props or flags that cannot work together: a missing index file, `code` "
           "given, a layer not built for the function's target, two layers holding one package at different "
           "versions, conflicting CLI flags"),
    _error("entry-missing", _C, "the entry (`entry=`, `--source`) does not exist or is not a folder"),
    _error("runtime-unsupported", _C, "the runtime is not a Lambda Python 3 runtime from python3.8 on"),
    _error("architecture-unknown", _C, "the architecture is neither x86_64 nor arm64"),
    _error("bundling-options-type", _C, "`bundling=` is not our options, the alpha module's or a dict"),
    _error("bundling-option-unknown", _C, "an unknown bundling option name (the message gives the closest one)"),
    _error("bundling-option-type", _C, "a bundling option of the wrong type"),
    _error("asset-hash-type", _C, "`asset_hash` and `asset_hash_type` do not go together, or an unknown hash type"),
    _error("output-path-suffix", _C, "`output_path_suffix` leaves the asset folder"),
    _error("context-invalid", _C, "the `cdk-native-python` context in cdk.json is not an object of "
           "repository-wide options, or not valid JSON"),
    _error("layer-targets", _C, "a layer's declared targets cannot share one zip (compiled or differing "
           "packages across architectures)"),
    _error("remote-cache-url", _C, "the remote cache URL is not `s3://BUCKET[/PREFIX]`"),
    _error("environment-invalid", _C, "an environment variable cdk-native-python reads has a value its type "
           "does not accept (an on/off variable that is neither on nor off, a `SOURCE_DATE_EPOCH` that is not "
           "a number)"),
    _error("credential-unusable", _C, "a URL credential holds whitespace or quotes, which a netrc cannot hold"),
    # -- inputs: dependency files and the entry's files (exit 2) ---------------------------------------------
    _error("invalid-input", _I, "a dependency file that cannot be understood: a malformed line, an unsupported "
           "option, an include loop, an unset `${VAR}`"),
    _error("input-missing", _I, "the dependency file (or an `-r`/`-c` include) does not exist"),
    _error("input-not-a-file", _I, "the dependency file is a folder, a FIFO, a device or a socket"),
    _error("input-too-large", _I, "the dependency file is over 16 MiB"),
    _error("input-binary", _I, "the dependency file holds NUL bytes"),
    _error("input-encoding", _I, "the dependency file is not UTF-8"),
    _error("input-unreadable", _I, "the dependency file cannot be read (permissions, I/O)"),
    _error("pipfile-not-locked", _I, "a `Pipfile` without `Pipfile.lock`, and `resolve_pipfile` is not set"),
    _error("selection-not-supported", _I, "groups or extras chosen for a requirements file, which has neither"),
    _error("invalid-requirement", _I, "a line is not PEP 508, or a bare URL does not name a wheel or sdist"),
    _error("invalid-marker", _I, "an environment marker in a lock file cannot be parsed"),
    _error("malformed-hash", _I, "a hash in a lock file is not `sha256:`/`sha384:`/`sha512:` and hex digits"),
    _error("unsupported-url", _I, "a direct URL is not http(s)"),
    _error("vcs-requirement", _I, "a VCS URL or source (`git+https://…`)"),
    _error("local-path", _I, "a local path in a requirements file does not exist"),
    _error("local-archive", _I, "a local archive is missing, not a wheel or sdist, or (named by a lock) "
           "outside the project"),
    _error("not-a-python-project", _I, "a local folder dependency has no `pyproject.toml` or `setup.py`"),
    _error("source-link-loop", _I, "a link loop in the entry"),
    _error("source-fifo", _I, "a named pipe in the entry"),
    _error("source-socket", _I, "a socket in the entry"),
    _error("source-device", _I, "a device in the entry"),
    _error("source-special-file", _I, "a special file in the entry that is none of a pipe, socket or device"),
    _error("source-name-encoding", _I, "a file name in the entry is not valid UTF-8"),
    _error("source-unreadable", _I, "a file or folder of the entry cannot be read"),
    _error("source-changed", _I, "a file of the entry changed between the hash and the copy: build again"),
    _error("report-unreadable", _I, "`explain --report` / `report`: the file cannot be read"),
    _error("report-invalid", _I, "`explain --report` / `report`: the file is not a build report"),
    _error("lock-yields-nothing", _I, "a lock gives no package for the entry's project, which declares dependencies"),
    _error("not-a-workspace-member", _I, "the entry's project is not a member of the uv workspace whose lock it uses"),
    _error("workspace-member-missing", _I, "a `{ workspace = true }` source names no member of the workspace"),
    _error("workspace-glob", _I, "a `[tool.uv.workspace]` members or exclude glob that cannot be read (absolute)"),
    _error("remote-cache-trusted-key", _C, "a trusted remote-cache key that is not `ed25519:<base64 of 32 bytes>`"),
    _error("remote-cache-timeout-value", _C, "`CDK_NATIVE_PYTHON_REMOTE_CACHE_TIMEOUT` is not a number of seconds"),
    _error("remote-signing-key-missing", _C, "a remote-cache writer has no signing key while trusted keys are "
           "configured"),
    _error("remote-signing-key-invalid", _C, "the writer's signing key (variable or file) is not an Ed25519 private "
           "key, or both variables are set"),
    _error("remote-signing-key-untrusted", _C, "the writer's signing key is not among the trusted keys"),
    _error("remote-signing-key-exposed", _C, "a private key in cdk.json or the options (which are committed)"),
    _error("remote-signing-key-exists", _C, "`cache keygen FILE`: the file exists already"),
    Code("cache-not-ours", ("error", "warning"), "the cache folder is not empty and carries no CACHEDIR.TAG of "
         "ours (the `cache` command refuses it; a build warns and uses a private temporary cache)", _C),
    _error("prefetch-no-app", _C, "`prefetch`: no `--app` and no `app` in cdk.json"),
    _error("prefetch-context-invalid", _C, "`prefetch`: a `--context` value is not `KEY=VALUE`"),
    _error("prefetch-app-failed", _C, "`prefetch`: the CDK app failed while it was run with bundling skipped"),
    _error("prefetch-command-failed", _C, "`prefetch -- COMMAND`: the command cannot be started (not found, "
           "not executable)"),
    # -- resolving and building (exit 1) -----------------------------------------------------------------------
    _error("no-solution", _R, "no set of wheels satisfies the requirements for the target (conflicting pins)"),
    _error("resolve-failed", _R, "uv failed to resolve for a reason it did not name as a conflict, an "
           "unreachable index or a missing package or wheel (its message is shown)"),
    _error("no-wheel", _R, "a package has no wheel for the target (the error lists the files that exist)"),
    _error("package-not-found", _R, "a package is not on the configured indexes"),
    _error("sdist-not-allowed", _R, "a direct URL points at an sdist of a package not in `allow_build`"),
    _error("no-sdist", _R, "a package in `allow_build` has no sdist on the indexes"),
    _error("build-requirement-without-wheel", _R, "a build requirement of a local package or an allowed sdist "
           "has no wheel"),
    _error("build-failed", _R, "building a local package or an allowed sdist failed, or produced no wheel"),
    _error("native-build-refused", _R, "a local or allowed sdist build produced a platform-specific wheel"),
    _error("url-not-found", _R, "a direct URL could not be downloaded (e.g. 404)"),
    _error("url-unusable", _R, "a direct URL served something that is not a wheel"),
    _error("pin-unsupported", _R, "a pin the resolution record's grammar cannot hold (not name==version with "
           "hashes, a wheel of the store, or a URL the user's requirements name)"),
    # -- installing, hooks, checks, the cache, outputs (exit 1) ---------------------------------------------
    _error("install-failed", "InstallError", "installing the resolved set failed; also `compile_bytecode` "
           "without an interpreter of the target's version"),
    _error("hash-mismatch", "InstallError", "a downloaded file does not match the hash in the lock or "
           "requirements file"),
    _error("hook-failed", "HookError", "a command hook exited non-zero"),
    _error("hook-paths", "HookError", "no temporary folder whose path needs no quoting, for the hooks' paths"),
    _error("native-code-unfit", "VerificationError", "a native file cannot load on the target (another "
           "platform, Python or a newer glibc)"),
    _error("size-limit", "VerificationError", "code plus layers is over Lambda's 250 MB unzipped limit"),
    _error("source-too-large", "VerificationError", "the entry alone is over 250 MB (checked before reading)"),
    _error("cache-unusable", "CacheError", "the cache directory cannot be used and no fallback applies (the "
           "`cache` command), or it became unwritable"),
    _error("cache-disk-full", "CacheError", "the cache's disk filled up"),
    _error("output-unwritable", "OutputError", "(command line) the output cannot be written: full disk, quota, "
           "read-only, permissions"),
    # -- the network (exit 3) -------------------------------------------------------------------------------
    _error("index-unreachable", _N, "a package index could not be reached"),
    _error("index-credentials", _N, "a package index refused the credentials"),
    _error("url-unreachable", _N, "a direct URL could not be reached"),
    _error("url-credentials", _N, "a direct URL refused the credentials"),
    _error("url-head-unsupported", _N, "a direct URL's server answered 501 to uv's HEAD request"),
    _error("url-http-error", _N, "a direct URL's server answered another HTTP error"),
    _error("index-not-found", _N, "a package index page answered 404 or 410 for the index itself"),
    _error("index-http-error", _N, "a package index page answered another HTTP error"),
    _error("find-links-unreachable", _N, "a find-links page could not be reached"),
    _error("find-links-credentials", _N, "a find-links page refused the credentials (401, 403)"),
    _error("find-links-not-found", _N, "a find-links page answered 404 or 410"),
    _error("find-links-http-error", _N, "a find-links page answered another HTTP error"),
    _error("download-unreachable", _N, "a file an index or find-links page lists could not be reached"),
    _error("download-credentials", _N, "a file an index or find-links page lists refused the credentials"),
    _error("download-not-found", _N, "a file an index or find-links page lists answered 404 or 410"),
    _error("download-head-unsupported", _N, "a listed file's server answered 501 to uv's HEAD request"),
    _error("download-http-error", _N, "a file an index or find-links page lists answered another HTTP error"),
    # -- warnings (CDK annotations `cdk-native-python:<code>`) ----------------------------------------------
    _warning("size-near-limit", "code plus layers is at least 90% of Lambda's 250 MB unzipped limit"),
    Code("runtime-provided-shipped", ("warning", "info"), "a package the runtime provides ships anyway (with "
         "the chain that requires it); a warning for boto3 or botocore, an info notice for the lighter ones"),
    _warning("layer-version-shadowed", "the function ships another version of a package its layer holds"),
    _warning("docker-option-ignored", "a Docker-only bundling option is set; it has no effect"),
    _warning("output-path-suffix-ignored", "`output_path_suffix` is set on a function (it applies to layers)"),
    _warning("lock-unpinned", "a Pipfile.lock `\"*\"` entry holds for the target and is resolved for it"),
    _warning("credential-in-file", "a requirements line writes a password literally in a URL"),
    _warning("source-link-outside", "a link in the entry leads outside it; its target is copied"),
    _warning("source-link-dangling", "a link in the entry leads nowhere; it is left out"),
    _warning("source-secret", "a file of the entry looks like credentials; it is copied"),
    _warning("cache-fallback", "the cache directory cannot be used; a private temporary one serves this run"),
    _warning("cache-entry-quarantined", "a cache entry failed its check; it was moved to `quarantine/` and rebuilt"),
    _warning("remote-entry-rejected", "an entry from the remote cache failed its check; it was built locally"),
    _warning("remote-cache-unreachable", "the remote cache's endpoint cannot be reached; it is off for this run"),
    _warning("remote-cache-credentials", "no usable AWS credentials, or they were rejected; the remote is off"),
    _warning("remote-cache-denied", "reading the remote cache was denied (a 403)"),
    _warning("remote-cache-write-denied", "writing to the remote cache was denied; writing is off for this run"),
    _warning("remote-cache-corrupt", "a remote entry does not match its digest or its grammar; it was ignored"),
    _warning("remote-cache-missing", "a remote pointer names content that is not there; built locally"),
    _warning("remote-cache-unavailable", "the `s3` extra (boto3, zstandard) is not installed; the remote is off "
             "for this run"),
    _warning("remote-cache-failed", "the remote failed for another reason (the message says which)"),
    _warning("remote-cache-unbound", "a remote pointer names another kind or key than its own (copied), or is "
             "of an earlier format; a miss"),
    _warning("remote-cache-untrusted", "with trusted keys configured, a remote pointer is unsigned or not signed "
             "by one of them; a miss"),
    _warning("remote-cache-timeout", "a remote entry took longer than the deadline; a miss, and the remote is off "
             "for this process"),
    # -- information notices (`Annotations.add_info`) -------------------------------------------------------
    _info("zip-over-direct-upload", "the estimated zip is over 50 MB (fine for CDK, which deploys through S3)"),
    _info("dependency-file-chosen", "several dependency files are in the entry: which one is used"),
    _info("source-excluded", "folders of the entry left out by default (rebuildable: bytecode, .git, cdk.out, "
          "virtualenvs, tool caches), named once"),
    _info("workspace-member", "the entry is a uv workspace member: its dependencies come from the root's uv.lock"),
    _info("environment-unused", "`environment`/`build_args` entries other than package sources, without "
          "`command_hooks`"),
    _info("poetry-option-native", "`poetry_include_hashes` / `poetry_without_urls` is set; poetry.lock is read "
          "natively"),
)

#: every code by name, in the order of the table (the docs page keeps it)
CODES: dict[str, Code] = {code.name: code for code in _TABLE}
