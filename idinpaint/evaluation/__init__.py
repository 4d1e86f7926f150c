"""embedded -> scored: verification metrics, LFW protocol, similarity gap (t-SNE follows)."""
from idinpaint.evaluation.verification import (
    VerificationResult,
    cosine_scores,
    kfold_accuracy,
    recovery_ratio,
    tar_at_far,
    verify,
)

__all__ = ["VerificationResult", "cosine_scores", "kfold_accuracy", "recovery_ratio", "tar_at_far", "verify"]
