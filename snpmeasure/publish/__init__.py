"""Publishing reference values in the forms verifiers read: signed manifests (DSSE, in-toto),
Trustee RVPS messages, CoRIM; batches of ID blocks."""
