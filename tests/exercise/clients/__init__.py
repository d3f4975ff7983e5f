"""Clients for ``seedance-mock exercise`` to judge: one that copes and some that do not."""
