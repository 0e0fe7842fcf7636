"""The engine and its steps: resolve, install (strip, slim, verify), stage, the bundling options. They use
``inputs/``, ``store/`` and ``core/``, never CDK (``hooks`` loads it only when a construct's hooks run)."""
