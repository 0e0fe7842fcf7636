"""The command line ``cdk-native-python``: ``main`` (the parser, ``build``, exit codes) and one module per other
command, registered in ``commands``. It never imports aws-cdk-lib."""
