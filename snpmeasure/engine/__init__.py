"""The digest engine: replays launch plans into launch digests (SNP PAGE_INFO chain, SEV and
SEV-ES SHA-256), hashing long plans on two cores; and the measurement entry points."""
