"""The construct adapters: ``NativePythonFunction``, ``NativePythonLayerVersion`` and their bundling. The only
layer that imports aws_cdk; it turns props into ``pipeline.options.BundlingOptions`` and calls the engine."""
