"""EvidenceService: photos, videos and documents on S3-compatible storage."""
