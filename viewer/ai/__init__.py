"""AI models: manifests, registry and the onnxruntime runner (no Qt). Not built yet."""
