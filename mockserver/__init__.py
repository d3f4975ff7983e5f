"""seedance-mock: an offline twin of the seedance2ai and seedanceapi video APIs."""
