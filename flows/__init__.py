"""The training pipeline: Prefect flows over pure logic, DVC-versioned data, MLflow models."""
