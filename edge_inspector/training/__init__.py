"""Training: data loading, simulated anomalies, the training loop and threshold calibration (needs torch)."""
