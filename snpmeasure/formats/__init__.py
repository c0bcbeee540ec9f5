"""Parsing and validating input files and values: firmware, IGVM, reports, keys, certificates.

Each parser checks everything a later layer relies on, once, and raises the project's errors
(``FormatError`` naming file, field and offset); what it returns is valid by construction.
"""
