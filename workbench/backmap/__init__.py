"""Backmapping CG structures to atoms (CGVAE) and its metrics."""
