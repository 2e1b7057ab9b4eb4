"""Green finance on carbon accounts: holders' consent to banks, the access log, loan products and quotes."""
