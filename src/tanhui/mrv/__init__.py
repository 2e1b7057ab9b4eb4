"""Digital verification (MRV) of distributed PV: meter data in, flagged intervals and verified reductions out."""
