"""The CI regression gate on parameters and MACs against the committed baseline.json."""
