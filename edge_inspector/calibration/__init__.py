"""Threshold calibration: policies (pure numpy), profiles (YAML with history), scoring runs and reports.

The profiles themselves live in the top-level calibration/ folder (see its README).
"""

from ..evaluation.policies import POLICIES, PolicyResult, binomial_upper, samples_needed
from .profile import Profile, list_history, load_profile, model_fingerprint, save_profile
from .validate import CalibrationError, ProfileError

__all__ = ["POLICIES", "CalibrationError", "PolicyResult", "Profile", "ProfileError", "binomial_upper",
           "list_history", "load_profile", "model_fingerprint", "samples_needed", "save_profile"]
