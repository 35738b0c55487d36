"""Generative models of molecular structure in JAX: backmapping CG structures to atoms
(``cgvae``: CGVAE, Wang et al., ICML 2022) and the linear backmapping baseline (``linear``)."""
