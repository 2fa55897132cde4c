"""Synthetic loan-application data with known fraud, and device drift with ground truth."""
from .devices import DriftSample, drift, random_device, random_devices, simulate_drift

__all__ = ["random_device", "random_devices", "drift", "simulate_drift", "DriftSample"]
