"""Collateral for verifying reports: AMD's KDS addresses, fetching certificates and CRLs from
KDS (or a mirror) with bounded retries, and the local cache ``report verify --cache`` reads
offline. Everything fetched is verified against a trusted root before it is cached."""
