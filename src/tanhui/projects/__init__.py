"""Projects from declaration to issuance: review, public announcement, registration, monitoring reports, sign-off."""
