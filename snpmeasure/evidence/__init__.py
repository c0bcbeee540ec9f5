"""Evidence from inside a guest: attestation reports requested through Linux configfs-tsm."""
