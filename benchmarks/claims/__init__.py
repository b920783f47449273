"""The paper's claims beside what was measured: the paper's numbers (paper.py), the verdict of
each claim (verdicts.py) and `python -m benchmarks.claims`, which writes claims.csv / claims.md."""
