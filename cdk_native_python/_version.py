"""The package's version, in a module of its own so that any module can read it without importing the
package root (imports go downward only); ``pyproject.toml`` reads it from here without importing."""

__version__ = "0.1.0"
