"""AI assist without Qt: model manifests, the registry, and the onnxruntime runner.

Only :mod:`viewer.ai.runner` imports onnxruntime, and only when a model first runs, so start-up
stays quick. Results are decision support for research use, not a diagnosis.
"""
