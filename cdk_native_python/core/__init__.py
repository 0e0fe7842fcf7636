"""The shared foundations: errors, records, the target, the reporter, the entry's walk. They import nothing above them
(``tests/test_imports.py`` enforces the layers of ``docs/design.md``)."""
