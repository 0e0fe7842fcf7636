"""What the user asked for (``spec.py``): index options whose credentials never reach a command line, a cache
key or a message, and that merge the way the constructs and the dependency files combine them."""

from __future__ import annotations

from cdk_native_python.core.spec import Credential, IndexOptions, redact, split_credentials, strip_credentials

SECRET = "t0ken-9f8e"


def test_credentials_are_split_off_urls_and_kept_apart() -> None:
    url = f"https://alice:{SECRET}@pkgs.example.com:8443/simple/?x=1#frag"
    assert strip_credentials(url) == "https://pkgs.example.com:8443/simple/?x=1#frag"
    clean, credential = split_credentials("https://al%40ice:p%3Ass@pkgs.example.com/simple")
    assert clean == "https://pkgs.example.com/simple"
    assert credential == Credential("pkgs.example.com", "al@ice", "p:ss")
    assert SECRET not in repr(Credential("h", "alice", SECRET))  # a credential never prints its secret
    assert split_credentials("https://pkgs.example.com/simple") == ("https://pkgs.example.com/simple", None)
    assert strip_credentials("/local/wheels") == "/local/wheels"
    assert redact(f"failed: https://alice:{SECRET}@a.example/x and http://__token__:{SECRET}@b.example/y") == \
        "failed: https://a.example/x and http://b.example/y"


def test_index_options_give_uv_flags_keys_and_descriptions_without_credentials() -> None:
    options = IndexOptions(index_url=f"https://alice:{SECRET}@a.example/simple",
                           extra_index_urls=(f"https://bob:{SECRET}@b.example/simple", "https://c.example/simple"),
                           find_links=("/wheels",))
    args = options.uv_args()
    assert args == ["--index-url", "https://a.example/simple", "--extra-index-url", "https://b.example/simple",
                    "--extra-index-url", "https://c.example/simple", "--find-links", "/wheels"]
    assert SECRET not in repr(options.key()) and SECRET not in options.describe()
    assert options.describe() == "https://a.example/simple, https://b.example/simple, https://c.example/simple, /wheels"
    assert [(c.host, c.username) for c in options.credentials()] == [("a.example", "alice"), ("b.example", "bob")]
    # a changed password is the same index: the key (and so the cache) does not change
    other = IndexOptions(index_url="https://alice:new@a.example/simple",
                         extra_index_urls=options.extra_index_urls, find_links=options.find_links)
    assert other.key() == options.key()
    assert IndexOptions().describe() == "https://pypi.org/simple"
    assert IndexOptions(no_index=True).describe() == "(no index)" and IndexOptions(no_index=True).uv_args() == \
        ["--no-index"]


def test_merged_lets_the_constructs_index_win_and_keeps_every_source_once() -> None:
    from_file = IndexOptions(index_url="https://file.example/simple", extra_index_urls=("https://x.example",),
                             find_links=("/a",))
    from_props = IndexOptions(index_url="https://props.example/simple", extra_index_urls=("https://x.example",
                                                                                            "https://y.example"),
                              find_links=("/a", "/b"), no_index=False)
    merged = from_file.merged(from_props)
    assert merged.index_url == "https://props.example/simple"
    assert merged.extra_index_urls == ("https://x.example", "https://y.example")
    assert merged.find_links == ("/a", "/b") and not merged.no_index
    assert from_file.merged(IndexOptions()).index_url == "https://file.example/simple"
    assert IndexOptions(no_index=True).merged(IndexOptions()).no_index
