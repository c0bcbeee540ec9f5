"""Analysis of launches: many configurations at once (matrix), reference-value manifests,
page-by-page explanations, searching for the configuration behind a digest, and inspecting what
a firmware or IGVM file declares."""
