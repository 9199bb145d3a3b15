"""The hyper-parameter search: YAML spaces -> Ray Tune + Optuna (TPE) + ASHA."""
